// A small status page (at /admin, and at / when there is no web build) so
// that an administrator sees something useful before the web console exists: log in, see the desktops with a live
// screenshot of each, start and stop them. Everything is inline: no external
// fonts, scripts or CDNs.
#include "landing.h"

namespace oriel::api {
namespace {

constexpr std::string_view kPage = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Oriel</title>
<style>
body{font:15px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 24px;display:flex;justify-content:space-between;align-items:center}
main{padding:24px;max-width:1200px;margin:auto}
form{background:#fff;padding:24px;border-radius:8px;max-width:320px;margin:48px auto;box-shadow:0 1px 3px #0002}
input,button{font:inherit;padding:8px 10px;margin:4px 0;border:1px solid #bbb;border-radius:6px}
input{width:100%;box-sizing:border-box}button{background:#2f6fec;color:#fff;border:0;cursor:pointer}
button:focus,input:focus{outline:2px solid #2f6fec;outline-offset:1px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:16px}
.card{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;overflow:hidden}
.card img{width:100%;aspect-ratio:4/3;object-fit:contain;background:#000;display:block}
.card div{padding:10px 12px}.state{font-weight:600}.err{color:#b00020}
</style></head><body>
<header><strong>Oriel</strong><span id="who"></span></header>
<main id="app"></main>
<script>
const app = document.getElementById('app');
let token = sessionStorage.getItem('oriel-token');
async function api(path, opts = {}) {
  const r = await fetch(path, {...opts, headers: {'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'}});
  if (r.status === 401) { token = null; sessionStorage.removeItem('oriel-token'); login(); throw new Error('logged out'); }
  return r;
}
function login(message) {
  app.innerHTML = '<form id="f"><h2>Sign in</h2><label>User<input id="u" value="admin" autocomplete="username"></label>' +
    '<label>Password<input id="p" type="password" autocomplete="current-password" autofocus></label>' +
    '<button>Sign in</button><p class="err" id="e"></p></form>';
  if (message) document.getElementById('e').textContent = message;
  document.getElementById('f').onsubmit = async (ev) => {
    ev.preventDefault();
    const r = await fetch('/api/v1/auth/login', {method: 'POST', body: JSON.stringify({username: u.value, password: p.value})});
    const j = await r.json();
    if (!r.ok) return login(j.error.message);
    token = j.token; sessionStorage.setItem('oriel-token', token); show();
  };
}
async function act(id, action) { await api('/api/v1/desktops/' + id + '/actions/' + action, {method: 'POST'}); show(); }
async function show() {
  const desktops = await (await api('/api/v1/desktops')).json();
  if (!document.getElementById('grid')) app.innerHTML = '<h2>Desktops</h2><div class="grid" id="grid"></div>';
  const grid = document.getElementById('grid');
  if (!desktops.length) grid.innerHTML = '<p>No desktops yet: create one with <code>oriel desktop create</code>.</p>';
  for (const d of desktops) {
    let card = document.getElementById('c-' + d.id);
    if (!card) {
      card = document.createElement('div'); card.className = 'card'; card.id = 'c-' + d.id;
      card.innerHTML = '<img alt="screen"><div><b></b> <span class="state"></span><br><small></small><br>' +
        '<button data-a="start">Start</button> <button data-a="stop">Stop</button> <button data-a="reset">Reset</button></div>';
      card.querySelectorAll('button').forEach(b => b.onclick = () => act(d.id, b.dataset.a));
      grid.appendChild(card);
    }
    card.querySelector('b').textContent = d.name;
    card.querySelector('.state').textContent = d.state;
    card.querySelector('small').textContent = d.error || (d.vcpus + ' vCPU, ' + d.memory_mb + ' MiB');
    if (d.state === 'running') {
      const r = await api('/api/v1/desktops/' + d.id + '/screenshot');
      if (r.ok) { const img = card.querySelector('img'); URL.revokeObjectURL(img.src); img.src = URL.createObjectURL(await r.blob()); }
    }
  }
}
if (token) show().catch(() => {}); else login();
setInterval(() => { if (token) show().catch(() => {}); }, 2000);
</script></body></html>
)html";

}  // namespace

void add_landing_page(Router& router, std::string_view path) {
  router.add("GET", path,
             [](const Request&) { return Response::bytes(200, "text/html; charset=utf-8", std::string(kPage)); });
}

}  // namespace oriel::api
