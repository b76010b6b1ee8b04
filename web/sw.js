// Service worker: keeps the app shell, the default model pack, the bundled corpus and the
// benchmark slices in one versioned cache, so the app works with the network off after one
// visit. precache.json (written by web/build.sh) lists the files and a version hash; a new
// build gets a new cache and the old one is deleted when it activates.
//
// Requests for listed files are answered from the cache first; anything else goes to the
// network (falling back to the cache). A request made with cache: "reload" (the model
// loader's re-fetch after a bad SHA-256) always goes to the network.
const PREFIX = "conan-shell-";

async function manifest() {
  const response = await fetch("precache.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`precache.json: HTTP ${response.status}`);
  return response.json();
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    try {
      const { version, files } = await manifest();
      const cache = await caches.open(PREFIX + version);
      await cache.addAll(files.map((f) => new Request(f, { cache: "no-store" })));
    } catch (e) {
      // A failed install leaves the page's `serviceWorker.ready` pending forever: tell the
      // pages why (they are not controlled yet, hence includeUncontrolled), then fail.
      const message = `${e && e.name ? e.name + ": " : ""}${e && e.message ? e.message : e}`;
      for (const client of await self.clients.matchAll({ includeUncontrolled: true })) {
        client.postMessage({ conanOfflineFailed: message });
      }
      throw e;
    }
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const { version } = await manifest().catch(() => ({ version: null }));
    if (version) {
      for (const name of await caches.keys()) {
        if (name.startsWith(PREFIX) && name !== PREFIX + version) await caches.delete(name);
      }
    }
    await self.clients.claim();
  })());
});

async function shellCache() {
  const names = (await caches.keys()).filter((n) => n.startsWith(PREFIX));
  return names.length ? caches.open(names[names.length - 1]) : null;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== location.origin || request.cache === "reload") return;
  event.respondWith((async () => {
    const cache = await shellCache();
    // Any navigation (with ?model=… or #page) is the one page.
    const key = request.mode === "navigate" ? new URL("index.html", self.registration.scope).href : request;
    const hit = cache && await cache.match(key, { ignoreSearch: request.mode === "navigate" });
    if (hit) return hit;
    try {
      return await fetch(request);
    } catch (e) {
      const fallback = cache && await cache.match(request, { ignoreSearch: true });
      if (fallback) return fallback;
      throw e;
    }
  })());
});
