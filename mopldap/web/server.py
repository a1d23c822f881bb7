"""`mopldap serve`: check where it may listen, then run the console and the API under uvicorn."""

from __future__ import annotations

from ..logs import get_logger
from ..model.config import Config, host_port, is_loopback
from ..model.errors import ConfigError
from ..model.rolemap import RoleMap

log = get_logger(__name__)


def listen_address(config: Config, listen: str | None) -> tuple[str, int]:
    """HOST, PORT to listen on. Raise ConfigError for a bad address, and for a non-loopback one
    without TLS unless web.allow_insecure: passwords would cross the network in clear."""
    text = listen or config.web.listen
    try:
        host, port = host_port(text)
    except ValueError as exc:
        raise ConfigError(f"--listen: {exc}") from None
    if not is_loopback(host) and not config.web.tls and not config.web.allow_insecure:
        raise ConfigError(f"serve: {host} is not a loopback address and web.cert_file/web.key_file are not set: "
                          "passwords would cross the network in clear; configure TLS, listen on 127.0.0.1 behind "
                          "a TLS reverse proxy, or set web.allow_insecure: true")
    for path in (config.web.cert_file, config.web.key_file):
        if path is not None and not path.is_file():
            raise ConfigError(f"{config.source}: web: {path}: no such file")
    return host, port


def serve(config: Config, rolemap: RoleMap, listen: str | None = None) -> int:
    import uvicorn

    from .app import create_app

    host, port = listen_address(config, listen)
    app = create_app(config, rolemap)
    scheme = "https" if config.web.tls else "http"
    log.info("serving", url=f"{scheme}://{host}:{port}/", api=f"{scheme}://{host}:{port}/api/v1/openapi.json")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, server_header=False,
                proxy_headers=True, forwarded_allow_ips=",".join(config.web.trusted_proxies),
                ssl_certfile=str(config.web.cert_file) if config.web.cert_file else None,
                ssl_keyfile=str(config.web.key_file) if config.web.key_file else None)
    return 0
