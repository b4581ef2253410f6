"""The embedded chain over standard Ethereum JSON-RPC, so anyone can audit it with any web3 client.

The embedded chain lives in one SQLite file that only fairshare's code can open. ``rpc_app`` serves it over
HTTP as a JSON-RPC node (``fairshare chain serve``): an auditor points plain web3.py, ethers or a block
explorer at it with nothing of ours installed. Read-only by default: only reading methods are answered, so
exposing it cannot move money; ``writable`` adds ``eth_sendRawTransaction`` (transactions signed elsewhere)
and block mining, for members' own wallets on a development chain. Signing methods (``eth_sendTransaction``,
``eth_sign``) are never served: the node holds no keys for anyone.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from hexbytes import HexBytes

from fairshare.ledger.chain import Chain

__all__ = ["READ_METHODS", "WRITE_METHODS", "rpc_app"]

READ_METHODS = frozenset(
    {
        "eth_chainId",
        "net_version",
        "web3_clientVersion",
        "eth_blockNumber",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_getLogs",
        "eth_call",
        "eth_estimateGas",
        "eth_getCode",
        "eth_getBalance",
        "eth_getStorageAt",
        "eth_getTransactionCount",
        "eth_getTransactionByHash",
        "eth_getTransactionReceipt",
        "eth_gasPrice",
        "eth_maxPriorityFeePerGas",
        "eth_syncing",
        "eth_accounts",
    }
)
WRITE_METHODS = frozenset({"eth_sendRawTransaction", "evm_mine", "anvil_mine"})


def _to_rpc(value: Any) -> Any:
    """web3's Python values back to JSON-RPC's encoding: quantities and bytes as 0x-hex, objects as dicts."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray | HexBytes):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):  # web3's AttributeDict is a Mapping, not a dict
        return {k: _to_rpc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_rpc(v) for v in value]
    return value


def rpc_app(chain: Chain, writable: bool = False) -> FastAPI:
    """A JSON-RPC endpoint (POST /, single or batch requests) over ``chain``."""
    app = FastAPI(title="fairshare embedded chain (JSON-RPC)", docs_url=None, redoc_url=None, openapi_url=None)
    allowed = READ_METHODS | (WRITE_METHODS if writable else frozenset())
    lock = threading.Lock()  # eth-tester is not thread-safe; one request at a time

    def error(request_id: Any, code: int, message: str) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}

    def answer(call: Any) -> dict[str, Any]:
        if not isinstance(call, dict) or not isinstance(call.get("method"), str):
            return error(None, -32600, "invalid request: expected an object with a method")
        request_id, method, params = call.get("id"), call["method"], call.get("params") or []
        if method not in allowed:
            hint = " (this node is read-only: start it with --writable)" if method in WRITE_METHODS else ""
            return error(request_id, -32601, f"method {method} is not served{hint}")
        if method == "eth_accounts":
            return {"jsonrpc": "2.0", "id": request_id, "result": []}
        try:
            with lock:
                if method in ("evm_mine", "anvil_mine"):
                    blocks = int(params[0], 16) if params and isinstance(params[0], str) else 1
                    chain.mine(max(blocks, 1))
                    result: Any = None
                else:
                    result = chain.w3.manager.request_blocking(method, params)
        except Exception as exc:  # the node's own error, reported as JSON-RPC reports it
            return error(request_id, -32000, str(exc))
        return {"jsonrpc": "2.0", "id": request_id, "result": _to_rpc(result)}

    @app.post("/")
    async def handle(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse(error(None, -32700, "parse error: the body is not JSON"))
        if isinstance(body, list):
            return JSONResponse([answer(call) for call in body])
        return JSONResponse(answer(body))

    return app
