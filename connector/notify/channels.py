"""Delivery channels: e-mail through an SMTP relay (smtplib) and a webhook (httpx). Each raises
:class:`NotifyError` with a message that holds no credential."""

import os
import smtplib
import ssl
from email.message import EmailMessage
from ipaddress import ip_address

import httpx

from connector.config import NotifySettings
from connector.notify.message import Notice, webhook_payload

__all__ = ["NotifyError", "send_email", "send_mail", "send_webhook"]


class NotifyError(Exception):
    """A notification could not be delivered (the reason is safe to record)."""


def _tls_context(cfg: NotifySettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cfg.ca_bundle) if cfg.ca_bundle else None)


def _env(name: str) -> str | None:
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise NotifyError(f"environment variable {name} is not set")
    return value


def send_email(cfg: NotifySettings, notice: Notice) -> None:
    send_mail(cfg, subject=notice.title, text=notice.text(), to=cfg.mail_to)


def send_mail(cfg: NotifySettings, *, subject: str, text: str, to: list[str]) -> None:
    """One plain-text e-mail through the configured relay to ``to``."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = cfg.mail_from
    msg["To"] = ", ".join(to)
    msg.set_content(text)
    user, password = _env(cfg.smtp_username_env), _env(cfg.smtp_password_env)
    try:
        if cfg.smtp_security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_seconds, context=_tls_context(cfg)
            )
        else:
            smtp = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_seconds)
        with smtp:
            if cfg.smtp_security == "starttls":
                smtp.starttls(context=_tls_context(cfg))
            if user is not None and password is not None:
                smtp.login(user, password)
            smtp.send_message(msg)
    except smtplib.SMTPResponseException as exc:
        raise NotifyError(f"SMTP relay {cfg.smtp_host}:{cfg.smtp_port} answered {exc.smtp_code}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise NotifyError(f"SMTP relay {cfg.smtp_host}:{cfg.smtp_port}: {type(exc).__name__}: {exc}") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def send_webhook(cfg: NotifySettings, notice: Notice) -> None:
    url = _env(cfg.webhook_url_env)
    if url is None:
        raise NotifyError("no webhook configured")
    parsed = httpx.URL(url)
    if parsed.scheme != "https" and not (parsed.scheme == "http" and _is_loopback(parsed.host)):
        raise NotifyError(f"the webhook URL in {cfg.webhook_url_env} must be https")
    # the URL is a credential (Slack and Teams embed the token in it): errors name the host only
    where = f"webhook {parsed.host}"
    try:
        with httpx.Client(verify=_tls_context(cfg), timeout=cfg.timeout_seconds, follow_redirects=False) as client:
            response = client.post(url, json=webhook_payload(notice))
    except httpx.TimeoutException:
        raise NotifyError(f"{where}: timed out after {cfg.timeout_seconds:g} s") from None
    except httpx.HTTPError as exc:
        raise NotifyError(f"{where}: {type(exc).__name__}") from None
    if not response.is_success:
        raise NotifyError(f"{where} answered HTTP {response.status_code}")
