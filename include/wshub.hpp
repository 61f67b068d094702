// wshub.hpp: a small header-only C++17 wrapper over wshub.h.
//
// RAII handle, lambdas as handlers, std::string_view payloads. Handlers run
// on the hub's dispatcher thread; an exception escaping a handler is caught
// at the C boundary and reported on stderr (it must not unwind into the
// library). Errors of calls throw wshub::Error.
#ifndef WSHUB_HPP
#define WSHUB_HPP

#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "wshub.h"

namespace wshub {

class Error : public std::runtime_error {
public:
    Error(wshub_status status, const char *what) : std::runtime_error(what), status_(status) {}
    wshub_status status() const noexcept { return status_; }

private:
    wshub_status status_;
};

inline void check(wshub_status status) {
    if (status != WSHUB_OK) throw Error(status, wshub_last_error());
}

/// An event, borrowed for the duration of the handler.
struct Event {
    std::string_view socket_id, name_space, name;
    std::string_view args;  ///< a JSON array
    std::vector<std::string_view> attachments;
    bool has_ack = false;
    std::uint64_t ack_id = 0;

    static Event from(const wshub_event *ev) {
        Event e;
        e.socket_id = ev->socket_id;
        e.name_space = ev->name_space;
        e.name = ev->name;
        e.args = std::string_view(ev->args_json, ev->args_len);
        for (std::size_t i = 0; i < ev->attachment_count; i++)
            e.attachments.emplace_back(reinterpret_cast<const char *>(ev->attachments[i].data), ev->attachments[i].len);
        e.has_ack = ev->has_ack;
        e.ack_id = ev->ack_id;
        return e;
    }
};

/// Who an emit reaches: rooms of a namespace (none: everyone), minus rooms, minus one socket.
struct Target {
    std::string name_space = "/";
    std::vector<std::string> rooms, except_rooms;
    std::string except_socket;
    /// Volatile emits are dropped, not queued, for a receiver whose outbound
    /// queue is full (a slow consumer), which stays connected (wshub_emit_volatile).
    bool is_volatile = false;
    /// Sent as it is, never deflated (Socket.IO's compress(false)): for data
    /// that is compressed already (wshub_target.uncompressed).
    bool uncompressed = false;
};

namespace detail {
template <typename F> void free_fn(void *ud) { delete static_cast<F *>(ud); }

template <typename F, typename... Args> void call(void *ud, Args... args) noexcept {
    try {
        (*static_cast<F *>(ud))(args...);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "wshub: a handler threw: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "wshub: a handler threw\n");
    }
}
}  // namespace detail

class Hub {
public:
    using EventHandler = std::function<void(const Event &)>;
    using ConnectionHandler = std::function<void(std::string_view socket_id, std::string_view name_space)>;
    using DisconnectHandler =
        std::function<void(std::string_view socket_id, std::string_view name_space, std::string_view reason)>;

    explicit Hub(const wshub_config &config = wshub_config_default()) { check(wshub_new(&config, &hub_)); }
    ~Hub() { wshub_free(hub_); }
    Hub(const Hub &) = delete;
    Hub &operator=(const Hub &) = delete;
    Hub(Hub &&other) noexcept : hub_(other.hub_) { other.hub_ = nullptr; }

    /// Starts serving; returns the bound port.
    std::uint16_t start() {
        std::uint16_t port = 0;
        check(wshub_start(hub_, &port));
        return port;
    }

    /// Stops (see wshub_stop); not from inside a handler.
    void stop(std::uint32_t grace_ms = 1000) { check(wshub_stop(hub_, grace_ms)); }

    /// Handles `event` in a namespace; an empty event name handles every event without a handler.
    void on(const std::string &name_space, const std::string &event, EventHandler handler) {
        auto *f = new EventHandler(std::move(handler));
        check(wshub_on(hub_, name_space.c_str(), event.empty() ? nullptr : event.c_str(),
                       [](void *ud, const wshub_event *ev) {
                           detail::call<EventHandler, const Event &>(ud, Event::from(ev));
                       },
                       f, detail::free_fn<EventHandler>));
    }
    void on(const std::string &event, EventHandler handler) { on("/", event, std::move(handler)); }

    void on_connection(ConnectionHandler handler, const std::string &name_space = "/") {
        auto *f = new ConnectionHandler(std::move(handler));
        check(wshub_on_connection(hub_, name_space.c_str(),
                                  [](void *ud, const char *id, const char *ns) {
                                      detail::call<ConnectionHandler, std::string_view, std::string_view>(ud, id, ns);
                                  },
                                  f, detail::free_fn<ConnectionHandler>));
    }

    void on_disconnect(DisconnectHandler handler, const std::string &name_space = "/") {
        auto *f = new DisconnectHandler(std::move(handler));
        check(wshub_on_disconnect(
            hub_, name_space.c_str(),
            [](void *ud, const char *id, const char *ns, const char *reason) {
                detail::call<DisconnectHandler, std::string_view, std::string_view, std::string_view>(ud, id, ns, reason);
            },
            f, detail::free_fn<DisconnectHandler>));
    }

    /// Emits to a target; returns how many sockets it reached.
    std::size_t emit(const std::string &event, std::string_view args_json = "[]", const Target &target = {}) {
        std::vector<const char *> rooms, except;
        for (auto &r : target.rooms) rooms.push_back(r.c_str());
        for (auto &r : target.except_rooms) except.push_back(r.c_str());
        wshub_target t{};
        t.name_space = target.name_space.c_str();
        t.rooms = rooms.data();
        t.room_count = rooms.size();
        t.except_rooms = except.data();
        t.except_count = except.size();
        t.except_socket = target.except_socket.empty() ? nullptr : target.except_socket.c_str();
        t.uncompressed = target.uncompressed;
        std::size_t delivered = 0;
        auto emit_fn = target.is_volatile ? wshub_emit_volatile : wshub_emit;
        check(emit_fn(hub_, &t, event.c_str(), args_json.data(), args_json.size(), nullptr, 0, &delivered));
        return delivered;
    }

    /// Emits to one socket.
    void emit_to(std::string_view socket_id, const std::string &event, std::string_view args_json = "[]",
                 const std::string &name_space = "/") {
        std::string id(socket_id);
        check(wshub_emit_to(hub_, name_space.c_str(), id.c_str(), event.c_str(), args_json.data(), args_json.size(),
                            nullptr, 0));
    }

    /// Answers an event that asked for an ack.
    void ack(const Event &ev, std::string_view args_json = "[]") {
        if (!ev.has_ack) return;
        std::string id(ev.socket_id), ns(ev.name_space);
        check(wshub_ack(hub_, ns.c_str(), id.c_str(), ev.ack_id, args_json.data(), args_json.size(), nullptr, 0));
    }

    void join(std::string_view socket_id, const std::string &room, const std::string &name_space = "/") {
        std::string id(socket_id);
        check(wshub_join(hub_, name_space.c_str(), id.c_str(), room.c_str()));
    }

    void leave(std::string_view socket_id, const std::string &room, const std::string &name_space = "/") {
        std::string id(socket_id);
        check(wshub_leave(hub_, name_space.c_str(), id.c_str(), room.c_str()));
    }

    /// The hub's metrics as a JSON object (see `wshub_metrics`).
    std::string metrics() const {
        char *json = nullptr;
        check(wshub_metrics(hub_, &json));
        std::string out(json);
        wshub_string_free(json);
        return out;
    }

    wshub_t *get() const noexcept { return hub_; }

private:
    wshub_t *hub_ = nullptr;
};

}  // namespace wshub

#endif
