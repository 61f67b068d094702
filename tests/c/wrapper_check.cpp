// include/wshub.hpp must compile cleanly as C++17 with every warning an error.
#include "wshub.hpp"

int wrapper_check();
int wrapper_check() {
    wshub_config config = wshub_config_default();
    config.port = 0;
    wshub::Hub hub(config);
    hub.on("echo", [&hub](const wshub::Event &ev) { hub.emit_to(ev.socket_id, "echo", ev.args); });
    hub.on_disconnect([](std::string_view, std::string_view, std::string_view) {});
    if (hub.metrics().empty()) return -1;
    return static_cast<int>(hub.emit("news", R"(["hi"])", wshub::Target{"/", {"room"}, {}, {}}));
}
