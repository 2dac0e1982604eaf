"""STS (IEC 62055-41) token engine: pure domain code, no HTTP.

Modules: ``tid`` (base dates and token identifiers), ``amount`` (the 16-bit amount field),
``crc`` (CRC-16), ``layout`` (the 66-bit token and its 20 digits), ``fields`` (what the 44
payload bits mean per class and subclass), ``sta`` and ``misty1`` (the ciphers), ``crypto``
(choosing one by algorithm code), ``meter`` (meter numbers), ``keys`` (decoder key
generation), ``codec`` (encrypt/decrypt whole tokens) and ``kinds`` (the token kinds the
Electrum interface names).
"""
