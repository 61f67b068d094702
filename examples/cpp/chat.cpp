// The chat room of examples/chat.rs (protocol at its top) in C++17 over wshub.hpp, serving
// examples/chat/public: nicknames, messages to everyone, history, join/leave, who is online, typing.
// Build: make examples; run from the repository root: target/examples/cpp-chat
#include <chrono>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include "wshub.hpp"

static long long now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The first argument's raw JSON (args are a JSON array; strings pass through unparsed).
static std::string first_arg(std::string_view args) {
    if (args.size() < 4 || args[1] != '"') return {};
    return std::string(args.substr(1, args.size() - 2));
}

static std::string join(const std::deque<std::string> &items) {
    std::string out;
    for (auto &item : items) out += (out.empty() ? "" : ",") + item;
    return out;
}

int main() {
    wshub_config cfg = wshub_config_default();
    if (const char *port = std::getenv("PORT")) cfg.port = static_cast<std::uint16_t>(std::atoi(port));
    cfg.static_dir = "examples/chat/public";
    cfg.client_bundle_dir = "node_modules/socket.io-client/dist";
    cfg.redis_url = std::getenv("REDIS_URL");  // set: join the cluster on that Redis (docs/SCALING.md)
    wshub::Hub hub(cfg);
    std::map<std::string, std::string, std::less<>> names;  // socket id -> nickname (raw JSON); one thread
    std::deque<std::string> history;                        // the last 50 messages, as JSON objects
    // `"online":N,"users":[...]` for the people who joined.
    auto online = [&] {
        std::string users;
        for (auto &[id, name] : names) users += (users.empty() ? "" : ",") + name;
        return R"("online":)" + std::to_string(names.size()) + R"(,"users":[)" + users + "]";
    };

    hub.on("join", [&](const wshub::Event &ev) {
        std::string name = first_arg(ev.args);
        if (name.empty()) return;
        names[std::string(ev.socket_id)] = name;
        hub.join(ev.socket_id, "people");  // typing notices go to the people who joined
        hub.ack(ev, R"([{"ok":true,"name":)" + name + "," + online() + R"(,"history":[)" + join(history) + "]}]");
        hub.emit("user joined",
                 R"([{"user":)" + name + R"(,"online":)" + std::to_string(names.size()) + R"(,"time":)" +
                     std::to_string(now_ms()) + "}]",
                 wshub::Target{"/", {}, {}, std::string(ev.socket_id)});
        hub.emit("online", "[{" + online() + "}]");
    });
    hub.on("typing", [&](const wshub::Event &ev) {
        auto who = names.find(ev.socket_id);
        if (who == names.end()) return;
        std::string on = ev.args.find("true") != std::string_view::npos ? "true" : "false";
        hub.emit("typing", R"([{"user":)" + who->second + R"(,"typing":)" + on + "}]",
                 wshub::Target{"/", {"people"}, {}, std::string(ev.socket_id)});
    });
    hub.on("chat message", [&](const wshub::Event &ev) {
        auto who = names.find(ev.socket_id);
        std::string text = first_arg(ev.args);
        if (text.empty()) return;
        // A socket that never joined (the classic one-page chat) speaks as "anonymous".
        std::string user = who == names.end() ? R"("anonymous")" : who->second;
        history.push_back(R"({"user":)" + user + R"(,"text":)" + text + R"(,"time":)" + std::to_string(now_ms()) + "}");
        if (history.size() > 50) history.pop_front();
        hub.emit("chat message", "[" + history.back() + "]");
    });
    hub.on_disconnect([&](std::string_view id, std::string_view, std::string_view) {
        auto who = names.find(id);
        if (who == names.end()) return;
        std::string left = R"([{"user":)" + who->second + R"(,"online":)" + std::to_string(names.size() - 1) +
                           R"(,"time":)" + std::to_string(now_ms()) + "}]";
        names.erase(who);
        hub.emit("user left", left);
        hub.emit("online", "[{" + online() + "}]");
    });
    std::uint16_t port = hub.start();
    std::cout << "LISTENING " << port << "\nchat room on http://127.0.0.1:" << port << std::endl;
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}
