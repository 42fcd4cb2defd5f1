"""EAP for WPA2/WPA3-Enterprise (PEAPv0, EAP-TTLS) and plain MS-CHAPv2.

Pure like the rest of the protocol core: no sockets, no clock of its own (the
engine passes ``now``). The engine reaches it through two method handlers:
``"eap"`` (:class:`~radius_server.eap.handler.EapHandler`) and ``"mschap"``
(:class:`~radius_server.eap.plain_mschap.PlainMsChapHandler`).
"""
