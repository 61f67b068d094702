"""The chat room of examples/chat.rs (its protocol is at its top) on the Python binding:
pip install ./bindings/python && python examples/python/chat.py   (PORT=8080 moves it)"""
import itertools, os, time, pathlib, wshub
root = pathlib.Path(__file__).resolve().parents[2]
sio = wshub.Server(port=int(os.environ.get("PORT", 3000)), static_files=root / "examples/chat/public",
                   client_bundle=root / "node_modules/socket.io-client/dist", redis_url=os.environ.get("REDIS_URL"))
names, history = {}, []  # handlers run one at a time on the hub's thread: plain dicts are fine
now = lambda: int(time.time() * 1000)
online = lambda: {"online": len(names), "users": sorted(names.values(), key=str.lower)}
@sio.event
def join(sid, nickname):
    if not (wanted := str(nickname).strip()[:24]):
        return {"ok": False, "error": "Please pick a nickname."}
    taken = {n.lower() for s, n in names.items() if s != sid}
    name = next(n for i in itertools.count(1) if (n := f"{wanted} {i}" if i > 1 else wanted).lower() not in taken)
    if sid not in names:
        sio.emit("user joined", {"user": name, "online": len(names) + 1, "time": now()}, skip_sid=sid)
    names[sid] = name
    sio.enter_room(sid, "people")  # typing notices go to the people who joined
    sio.emit("online", online())
    return {"ok": True, "name": name, **online(), "history": history}  # the client's ack
@sio.on("chat message")
def chat_message(sid, text):
    if text := str(text).strip()[:2000]:  # a socket that never joined speaks as "anonymous"
        history[:] = [*history, {"user": names.get(sid, "anonymous"), "text": text, "time": now()}][-50:]
        sio.emit("chat message", history[-1])  # everyone, the sender included
@sio.event
def typing(sid, on):
    if sid in names:
        sio.emit("typing", {"user": names[sid], "typing": bool(on)}, room="people", skip_sid=sid)
@sio.event
def disconnect(sid, reason):
    if (user := names.pop(sid, None)) is not None:
        sio.emit("user left", {"user": user, "online": len(names), "time": now()})
        sio.emit("online", online())

print(f"LISTENING {sio.start().port}\nchat room on {sio.url}/", flush=True)
sio.serve_forever()  # Ctrl-C stops it cleanly
