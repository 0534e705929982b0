"""Suggested actions, one per kind of finding: concrete steps an Exchange/Entra admin can take now."""

__all__ = ["action_for"]

_DISABLE = "Set-CASMailbox -Identity {account} -SmtpClientAuthenticationDisabled $true"
_COMPROMISE = (
    "If this sending is not expected: reset the account's password and revoke its sessions "
    "(Revoke-MgUserSignInSession -UserId {account}), block sign-in until it is investigated, and turn SMTP AUTH "
    "off for the mailbox: " + _DISABLE + "."
)
_ACTIONS = {
    "volume_spike": _COMPROMISE,
    "first_time_sender": _COMPROMISE,
    "new_origin": _COMPROMISE,
    "off_hours_sending": _COMPROMISE,
    "external_domains": _COMPROMISE,
    "brute_force": (
        "Someone is trying the account's password over SMTP AUTH (it bypasses MFA): block legacy authentication "
        "with Conditional Access; if a sign-in from a failing IP succeeded, reset the password and revoke the "
        "sessions; if the mailbox does not need SMTP AUTH: " + _DISABLE + "."
    ),
    "password_spray": (
        "Block the source IP {account} (Conditional Access named location or the firewall), block legacy "
        "authentication with Conditional Access, reset the password of every listed account that also had a "
        "successful sign-in, and turn SMTP AUTH off on the mailboxes that do not need it: "
        "Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $true."
    ),
    "tls_downgrade": (
        "Find the client that now negotiates TLS 1.0/1.1 (its IP is in the evidence): a replaced device or a "
        "configuration change. smtp.office365.com refuses TLS 1.0/1.1 (421 4.7.66): update it to TLS 1.2."
    ),
}


def action_for(kind: str, account: str) -> str:
    return _ACTIONS[kind].format(account=account)
