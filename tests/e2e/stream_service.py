"""A stream service in another language than loadgate's, for tests/e2e/streams.rs: Server-Sent
Events on /sse and a WebSocket on /ws (which waits for the client's message first), each
sending --messages messages, the first --first-ms after the request and the next ones --gap-ms apart, on a fixed
schedule so that one late wake-up does not delay the rest.

?mode= on either path makes it misbehave: `malformed` (an HTML line in the event stream, or a
WebSocket close 1007 "invalid payload"), `early` (the connection dropped after 3 messages),
`short` (the stream ends cleanly after 3 messages), `never` (headers, then nothing), `error`
(WebSocket: closed with 1011 after 3 messages). On /sse, `done` ends the stream with one more
event, `event: done` and `data: [DONE]`, as LLM APIs do.

/chat is a WebSocket that speaks the subprotocol `chat.v1` only and answers each message at once
with `text DATA` or `binary DATA` (its frame's type), as long as the client keeps the socket
open; each socket it opens appends its `?tag=` to the file --chat-log names.
"""

import argparse
import asyncio

from aiohttp import WSMsgType, web

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--first-ms", type=float, default=50.0)
parser.add_argument("--gap-ms", type=float, default=20.0)
parser.add_argument("--messages", type=int, default=10)
parser.add_argument("--chat-log")
args = parser.parse_args()


async def until(start, i):
    """Sleeps until message i is due."""
    loop = asyncio.get_running_loop()
    due = start + (args.first_ms + i * args.gap_ms) / 1000.0
    await asyncio.sleep(max(0.0, due - loop.time()))


async def health(_request):
    return web.Response(text="ok")


async def sse(request):
    mode = request.query.get("mode", "ok")
    start = asyncio.get_running_loop().time()
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    if mode == "never":
        await asyncio.sleep(3600)
    for i in range(args.messages):
        await until(start, i)
        if i == 3 and mode == "early":
            request.transport.close()
            return response
        if i == 3 and mode == "short":
            break
        if i == 2 and mode == "malformed":
            await response.write(b"<html>oops</html>\n\n")
            continue
        # A comment, an id, a named event and data over two lines: the whole format.
        await response.write(f": tick\nid: {i}\nevent: token\ndata: {i}\ndata: more\n\n".encode())
    if mode == "done":
        await response.write(b"event: done\ndata: [DONE]\n\n")
    await response.write_eof()
    return response


async def ws(request):
    mode = request.query.get("mode", "ok")
    # From the upgrade request, as the client's clock runs from its request.
    start = asyncio.get_running_loop().time()
    socket = web.WebSocketResponse()
    await socket.prepare(request)
    message = await socket.receive()
    if message.type != WSMsgType.TEXT:
        return socket
    if mode == "never":
        await asyncio.sleep(3600)
    for i in range(args.messages):
        await until(start, i)
        if i == 3 and mode == "early":
            request.transport.close()
            return socket
        if i == 3 and mode == "short":
            break
        if i == 3 and mode == "error":
            await socket.close(code=1011, message=b"internal error")
            return socket
        if i == 2 and mode == "malformed":
            await socket.close(code=1007, message=b"invalid payload")
            return socket
        await socket.send_str(f"{message.data} {i}")
    await socket.close()
    return socket


async def chat(request):
    socket = web.WebSocketResponse(protocols=("chat.v1",))
    await socket.prepare(request)
    if args.chat_log:
        with open(args.chat_log, "a") as log:
            log.write(request.query.get("tag", "") + "\n")
    if socket.ws_protocol != "chat.v1":
        await socket.close(code=4000, message=b"chat.v1 only")
        return socket
    async for message in socket:
        if message.type == WSMsgType.TEXT:
            await socket.send_str(f"text {message.data}")
        elif message.type == WSMsgType.BINARY:
            await socket.send_str(f"binary {message.data.decode()}")
    return socket


app = web.Application()
app.add_routes(
    [web.get("/health", health), web.get("/sse", sse), web.get("/ws", ws), web.get("/chat", chat)]
)
# Streams a client left (a timeout) are cancelled, and stopping does not wait for them.
web.run_app(
    app,
    host="127.0.0.1",
    port=args.port,
    print=None,
    access_log=None,
    handler_cancellation=True,
    shutdown_timeout=1.0,
)
