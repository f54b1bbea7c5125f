"""SIP: the fields of a SIP message that users search by."""
