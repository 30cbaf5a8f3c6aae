"""Client side: an ``httpx2.Auth`` (and ``httpx.Auth``) over the sans-IO flow in ``zeroauth.core.flow``."""
