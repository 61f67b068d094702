"""wshub inside an aiohttp app, on its port beside its own routes (python-socketio's
``sio.attach(app)`` shape): the one-page chat at /, an API route at /api/health.
pip install ./bindings/python aiohttp && PORT=3000 python examples/python/aiohttp_app.py"""
import os, pathlib, time, wshub
from aiohttp import web
root = pathlib.Path(__file__).resolve().parents[2]
sio = wshub.AsyncServer(client_bundle=root / "node_modules/socket.io-client/dist")
app = web.Application()
sio.attach(app)
async def health(request):  # the app's own route, on the same port as Socket.IO
    return web.json_response({"ok": True})
async def index(request):
    return web.FileResponse(root / "examples/chat/public/index.html")
app.router.add_get("/api/health", health)
app.router.add_get("/", index)
@sio.on("chat message")
async def chat_message(sid, text):  # everyone gets it, the sender included
    await sio.emit("chat message", {"user": "anonymous", "text": str(text)[:2000], "time": int(time.time() * 1000)})
@sio.event
async def echo(sid, *args):
    return list(args)  # the ack
if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(os.environ.get("PORT", 3000)), print=None)
