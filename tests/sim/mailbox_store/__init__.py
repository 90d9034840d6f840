"""The mailbox store's Python API: the Exchange rules, without SOAP in between."""
