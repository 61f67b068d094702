"""wshub inside a FastAPI app, on uvicorn's port beside the app's own routes
(python-socketio's ``socketio.ASGIApp`` shape): the one-page chat at /, an API route at /api/health.
pip install ./bindings/python fastapi uvicorn websockets && PORT=3000 python examples/python/fastapi_app.py"""
import os, pathlib, time, fastapi, uvicorn, wshub
root = pathlib.Path(__file__).resolve().parents[2]
sio = wshub.AsyncServer(client_bundle=root / "node_modules/socket.io-client/dist")
api = fastapi.FastAPI()
@api.get("/api/health")
async def health():  # the app's own route, on the same port as Socket.IO
    return {"ok": True}
@sio.on("chat message")
async def chat_message(sid, text):  # everyone gets it, the sender included
    await sio.emit("chat message", {"user": "anonymous", "text": str(text)[:2000], "time": int(time.time() * 1000)})
@sio.event
async def echo(sid, *args):
    return list(args)  # the ack
app = wshub.ASGIApp(sio, api, static_files={"/": str(root / "examples/chat/public")})
if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", 3000)), log_level="warning")
