// Bootstrap: pin the page's Content-Security-Policy before any app code runs, then start
// the yew app. Only this origin may be contacted, plus the origin of a model URL the user
// gave explicitly (?model=https://…). The service worker (sw.js) is registered by the app.
const allowed = ["'self'"];
const model = new URLSearchParams(location.search).get("model");
if (model) {
  try {
    const origin = new URL(model, location.href).origin;
    if (origin !== location.origin) allowed.push(origin);
  } catch (_) { /* not a URL: the app reports it */ }
}
const policy = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  `connect-src ${allowed.join(" ")}`,
  "img-src 'self' data: blob:",
  "style-src 'self' 'unsafe-inline'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");
const meta = document.createElement("meta");
meta.httpEquiv = "Content-Security-Policy";
meta.content = policy;
document.head.prepend(meta);

// Both wasm modules are compiled with WebAssembly SIMD (v128). A browser without it (Chrome
// before 91, Firefox before 89, Safari before 16.4) gets a sentence instead of a blank page:
// this tiny module (i8x16.splat, i8x16.popcnt) validates only where SIMD does.
const simd = WebAssembly.validate(new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]));
const refuse = (why) => {
  const p = document.createElement("p");
  p.id = "fatal";
  p.textContent = why;
  document.body.prepend(p);
};
if (!simd) {
  refuse("conan-web needs WebAssembly SIMD, which this browser lacks: Chrome or Edge 91+, Firefox 89+ or Safari 16.4+ have it.");
} else {
  import("./conan_web.js")
    .then((m) => m.default())
    .catch((e) => refuse(`conan-web could not start: ${e}`));
}
