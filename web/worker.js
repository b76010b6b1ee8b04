// Module worker: loads conan-worker's wasm; its start function installs the message
// handler and posts {type: "Ready"}.
import init from "./conan_worker.js";
init();
