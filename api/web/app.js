// vidx web page: search, watch at the matching moment, more like this, personal feed.
// Plain JavaScript against the service's own /v1 API; nothing loaded from elsewhere.
'use strict';

const $ = (sel) => document.querySelector(sel);
const PAGE = 12;
const PICTURE_MAX_BYTES = 8 << 20; // VX_PICTURE_MAX_BYTES (indexer/picture.h)
const state = { q: '', offset: 0, total: 0, user: localStorage.getItem('vidx.user') || '', watching: null, picture: null, tag: null };

// The page's language: the one chosen with the switch (kept), else the first of the
// browser's preferred languages (what it sends as Accept-Language) that the page speaks,
// else English. Strings come from STRINGS (strings.js) through t().
function preferredLanguage() {
  const kept = localStorage.getItem('vidx.lang');
  if (kept && LANGUAGES[kept]) return kept;
  for (const tag of navigator.languages || [navigator.language || '']) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (LANGUAGES[base]) return base;
  }
  return 'en';
}
let lang = preferredLanguage();

// The string `key` in the page's language, with its named values.
function t(key, values) {
  const entry = STRINGS[key];
  if (!entry) return key;
  const s = entry[lang] !== undefined ? entry[lang] : entry.en;
  return typeof s === 'function' ? s(values || {}) : s;
}

// Puts the strings of index.html in place (data-i18n: the text; data-i18n-ATTR: an attribute).
function applyLanguage() {
  document.documentElement.lang = LANGUAGES[lang].tag;
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.getAttributeNames()) {
      if (a === 'data-i18n') el.textContent = t(el.getAttribute(a));
      else if (a.startsWith('data-i18n-')) el.setAttribute(a.slice('data-i18n-'.length), t(el.getAttribute(a)));
    }
  }
  const select = $('#lang');
  if (!select.options.length) {
    select.append(...Object.entries(LANGUAGES).map(([code, l]) => new Option(l.name, code)));
  }
  select.value = lang;
}
applyLanguage();

function showStatus(message, kind) {
  const el = $('#status');
  el.textContent = message;
  el.className = kind || '';
  el.hidden = !message;
}

// Signing in, where the service keeps feeds private: an admin gives each user a link
// http://HOST/#user=NAME&token=TOKEN (POST /v1/users/NAME/token). A fragment never
// reaches the server or its logs; the page keeps the token and sends it, as
// "Authorization: Bearer TOKEN", only with that user's requests.
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get('user') && fragment.get('token')) {
  localStorage.setItem('vidx.user', fragment.get('user'));
  localStorage.setItem('vidx.token.' + fragment.get('user'), fragment.get('token'));
  state.user = fragment.get('user');
  history.replaceState(null, '', location.pathname + location.search);
}
// The token of the user a path is about ("/v1/users/NAME/..."), if the page has one.
function tokenFor(path) {
  const m = /^\/v1\/users\/([^/?]+)/.exec(path);
  return m ? localStorage.getItem('vidx.token.' + decodeURIComponent(m[1])) : null;
}

// Fetches JSON from the API; throws an Error whose message is fit to show.
async function api(path, options) {
  let response;
  options = options || {};
  const token = tokenFor(path);
  if (token) options.headers = { ...(options.headers || {}), Authorization: 'Bearer ' + token };
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new Error(t('unreachable'));
  }
  let body = null;
  try { body = await response.json(); } catch (e) { /* not JSON */ }
  if (!response.ok) {
    let message = body && body.error ? body.error.message : t('service_answered', { status: response.status });
    if (response.status === 401 && path.startsWith('/v1/users/')) {
      message = t('private_feeds');
    } else if (response.status === 403 && path.startsWith('/v1/users/')) {
      message = t('wrong_user');
    }
    const err = new Error(message);
    err.code = body && body.error ? body.error.code : String(response.status);
    throw err;
  }
  return body;
}

function clock(seconds) {
  const s = Math.max(0, seconds || 0);
  const m = Math.floor(s / 60);
  return `${m}:${(s - 60 * m).toFixed(0).padStart(2, '0')}`;
}

// A snippet (HTML-escaped text, matches in <b>…</b>) as DOM nodes: text and <mark>,
// never parsed as HTML.
const ENTITIES = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&#x27;': "'" };
function snippetNodes(html) {
  let bold = false;
  const nodes = [];
  for (const part of html.split(/(<\/?b>)/)) {
    if (part === '<b>' || part === '</b>') { bold = part === '<b>'; continue; }
    if (!part) continue;
    const text = part.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (m) => ENTITIES[m]);
    if (bold) {
      const m = document.createElement('mark');
      m.textContent = text;
      nodes.push(m);
    } else nodes.push(document.createTextNode(text));
  }
  return nodes;
}

// A result or feed card; opens the player at `start` seconds when clicked.
function card(item, start, detail) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'card';
  b.dataset.id = item.video_id;
  b.dataset.start = String(start);
  const img = document.createElement('img');
  img.loading = 'lazy';
  img.alt = '';
  img.src = item.moment_thumbnail || item.thumbnail;
  img.onerror = () => { img.removeAttribute('src'); };
  const body = document.createElement('div');
  body.className = 'body';
  const title = document.createElement('div');
  title.className = 'title';
  title.textContent = item.title || item.video_id;
  title.title = item.path || '';
  const meta = document.createElement('div');
  meta.className = detail && detail.reason ? 'reason' : 'meta';
  meta.textContent = detail && detail.reason ? item.reason
    : t('score_moment', { score: Number(item.score).toFixed(3),
      from: item.moment ? clock(item.moment.start) : '', to: item.moment ? clock(item.moment.end) : '' });
  body.append(title, meta);
  // What the words matched (beyond the pictures), and where.
  const words = (item.matched || []).filter((m) => m !== 'visual');
  if (words.length) {
    const matched = document.createElement('div');
    matched.className = 'matched';
    matched.dataset.matched = words.join(',');
    matched.textContent = words.map((m) => t('matched_' + m)).join(' · ');
    body.append(matched);
  }
  // Re-uploads of the same video, grouped into this card (the player lists them).
  if (item.copies) {
    const copies = document.createElement('div');
    copies.className = 'copies';
    copies.textContent = t('copies', { n: item.copies + 1 });
    body.append(copies);
  }
  if (item.snippet) {
    const snip = document.createElement('div');
    snip.className = 'snippet';
    snip.append(...snippetNodes(item.snippet));
    body.append(snip);
  }
  b.append(img, body);
  b.addEventListener('click', () => openWatch(item, start));
  return b;
}

// Searches by the words typed, or by the picture chosen (state.picture, sent as the body).
async function search(offset) {
  const q = $('#q').value.trim();
  if (!q && !state.picture) return;
  state.q = q;
  state.offset = offset;
  showStatus('');
  const section = $('#results-section');
  try {
    const r = state.picture
      ? await api(`/v1/search?k=${PAGE}&offset=${offset}`, { method: 'POST', body: state.picture,
        headers: { 'Content-Type': state.picture.type || 'application/octet-stream' } })
      : await api(`/v1/search?k=${PAGE}&offset=${offset}&q=${encodeURIComponent(q)}` +
        (state.tag ? `&tag=${encodeURIComponent(state.tag)}` : ''));
    state.total = r.total;
    const grid = $('#results');
    grid.replaceChildren(...r.results.map((x) => card(x, x.moment ? x.moment.start : 0)));
    $('#results-title').textContent = state.picture ? t('results_for_picture', { name: state.picture.name })
      : t(state.tag ? 'results_for_text_tag' : 'results_for_text', { q, tag: state.tag });
    $('#page-info').textContent = r.results.length
      ? t('page_info', { first: offset + 1, last: offset + r.results.length, total: r.total, ms: r.took_ms }) : '';
    $('#prev').disabled = offset === 0;
    $('#next').disabled = offset + r.results.length >= r.total || r.results.length < PAGE;
    section.hidden = false;
    $('#welcome').hidden = true;
    if (!r.results.length) showStatus(t(offset ? 'no_match_page' : 'no_match'), 'info');
    // A sharded cluster answered without some of its shards: say that videos may be missing.
    else if (r.partial) showStatus(t('partial', { n: r.shards_missing }), 'info');
    // A query not in English, read by CLIP's English tower only: say so.
    else if (r.text_note) showStatus(t('english_only'), 'info');
  } catch (e) {
    section.hidden = true;
    showStatus(t(e.code === 'model_missing' ? 'text_search_off' : 'search_failed', { message: e.message }));
  }
}

async function loadFeed() {
  const user = $('#user').value.trim();
  if (!user) { showStatus(t('need_name'), 'info'); return; }
  state.user = user;
  localStorage.setItem('vidx.user', user);
  try {
    const f = await api(`/v1/users/${encodeURIComponent(user)}/feed?k=${PAGE}`);
    const grid = $('#feed');
    grid.replaceChildren(...f.items.map((x) => card(x, 0, { reason: true })));
    grid.dataset.newUser = String(f.new_user);
    grid.dataset.events = String(f.events);
    $('#feed-title').textContent = t(f.new_user ? 'feed_new_user' : 'feed_user', { user });
    $('#feed-section').hidden = false;
    $('#welcome').hidden = true;
    if (!f.items.length) showStatus(t('feed_empty'), 'info');
  } catch (e) {
    showStatus(t('feed_failed', { message: e.message }));
  }
}

// Says why the video does not play, instead of leaving a black box, with a link to the
// file for a player that reads it.
function showPlaybackProblem(why) {
  const el = $('#watch-problem');
  const link = document.createElement('a');
  link.href = `/v1/videos/${state.watching.id}/media?original=1`;
  link.download = '';
  link.textContent = t('download_file');
  el.replaceChildren(t('cannot_play', { why }), link, t('cannot_play_end'));
  el.hidden = false;
}

const MEDIA_ERRORS = { 1: 'media_aborted', 2: 'media_network', 3: 'media_decode', 4: 'media_format' };

// The pictures of the segments around the moment, while the video cannot play yet.
function showMomentPictures(video, start) {
  const segs = (video.segments || []).slice();
  segs.sort((a, b) => Math.abs(a.start - start) - Math.abs(b.start - start));
  const near = segs.slice(0, 5).sort((a, b) => a.start - b.start);
  $('#moment-strip').replaceChildren(...near.map((s) => {
    const f = document.createElement('figure');
    const img = document.createElement('img');
    img.src = s.thumbnail;
    img.alt = t('picture_at', { at: clock(s.start) });
    f.append(img, clock(s.start));
    return f;
  }));
}

// The key frames under the player: a click jumps to that moment.
function showStoryboard(info) {
  const board = $('#storyboard');
  const keys = (info && info.keyframes) || [];
  board.replaceChildren(...keys.map((k) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.title = t('jump_to', { at: clock(k.t) });
    const f = document.createElement('figure');
    const img = document.createElement('img');
    img.src = k.thumbnail;
    img.alt = t('key_frame_at', { at: clock(k.t) });
    f.append(img, clock(k.t));
    b.append(f);
    b.addEventListener('click', () => {
      const video = $('#player');
      if (!video.getAttribute('src')) return; /* not playable yet */
      video.currentTime = k.t;
      video.play().catch(() => {});
      board.querySelectorAll('button').forEach((x) => x.classList.toggle('current', x === b));
    });
    return b;
  }));
  board.hidden = keys.length === 0;
  // Its zero-shot tags (scenes, actions, emotions), best first: a click searches by it.
  const tags = (info && info.tags) || [];
  $('#watch-tags').replaceChildren(...tags.slice(0, 8).map((tag) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'tag';
    b.textContent = `${tag.vocabulary}: ${tag.label}`;
    b.title = t('tag_at', { ranges: tag.ranges.map((r) => `${clock(r.start)}–${clock(r.end)}`).join(', ') });
    b.addEventListener('click', () => {
      state.picture = null;
      state.tag = `${tag.vocabulary}:${tag.label}`;
      if (!$('#q').value.trim()) $('#q').value = tag.label;
      search(0);
    });
    return b;
  }));
  $('#watch-tags').hidden = tags.length === 0;
  const re = $('#watch-reupload');
  re.textContent = info && info.near_duplicate_of ? t('reupload_of', { id: info.near_duplicate_of }) : '';
  re.hidden = !(info && info.near_duplicate_of);
}

// The other copies of the video (re-uploads grouped with it in the results): each opens.
function showCopies(ids) {
  const el = $('#watch-copies');
  el.replaceChildren(t('other_copies'), ...ids.map((id, i) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'tag';
    b.dataset.id = id;
    b.textContent = t('copy_n', { n: i + 2 });
    b.addEventListener('click', async () => {
      let info = null;
      try { info = await api(`/v1/videos/${id}`); } catch (e) { /* open it all the same */ }
      openWatch({ video_id: id, title: info && info.title }, 0);
    });
    return b;
  }));
  el.hidden = ids.length === 0;
}

// Starts the player at the moment: the original when browsers play it, else its
// rendition; while the rendition is being made the page says so, shows the moment's
// pictures and checks back until it is ready.
async function loadPlayer(item, start) {
  const video = $('#player');
  const id = item.video_id;
  let info = null;
  try { info = await api(`/v1/videos/${id}`); } catch (e) { /* try the media anyway */ }
  if (!state.watching || state.watching.id !== id) return;
  state.watching.info = info;
  showStoryboard(info);
  const playback = info && info.playback;
  if (playback === 'pending') {
    $('#watch-pending-text').textContent = t('converting', {
      percent: info.rendition_progress >= 0 ? Math.round(100 * info.rendition_progress) : undefined,
      reason: info.playback_reason });
    showMomentPictures(info, start);
    $('#watch-pending').hidden = false;
    state.watching.retry = setTimeout(() => loadPlayer(item, start), 2000);
    return;
  }
  $('#watch-pending').hidden = true;
  if (playback === 'failed') {
    showPlaybackProblem(t('no_playable_copy', { reason: info.playback_reason }));
    return;
  }
  state.watching.playback = playback;
  // The media fragment starts the player at the moment by itself; the seek on
  // loadedmetadata is for players that ignore it. The rendition of a file that is
  // served as it is until a browser refused it has its own address (none cached as the other).
  video.src = `/v1/videos/${id}/media` + (playback === 'rendition' ? '?as=rendition' : '') + (start > 0 ? `#t=${start}` : '');
  video.addEventListener('loadedmetadata', () => { if (Math.abs(video.currentTime - start) > 0.5) video.currentTime = start; },
    { once: true });
  video.play().catch(() => { /* autoplay refused: the controls are there */ });
}

async function openWatch(item, start) {
  const video = $('#player');
  if (state.watching && state.watching.retry) clearTimeout(state.watching.retry);
  state.watching = { id: item.video_id, reported: false, item, start };
  video.dataset.id = item.video_id;
  video.dataset.start = String(start);
  $('#watch-problem').hidden = true;
  $('#watch-pending').hidden = true;
  $('#storyboard').hidden = true;
  $('#watch-reupload').hidden = true;
  showCopies(item.copy_ids || []);
  // The moment's picture shows while the video loads (and if it cannot play).
  video.poster = item.moment_thumbnail || item.thumbnail || `/thumbs/${item.video_id}.jpg`;
  video.removeAttribute('src');
  video.load();
  $('#watch-title').textContent = item.title || item.video_id;
  $('#watch-moment').textContent = start > 0 ? t('from_moment', { at: clock(start) }) : '';
  $('#watch').hidden = false;
  $('#welcome').hidden = true;
  window.scrollTo({ top: 0, behavior: 'smooth' });
  loadPlayer(item, start);
  const list = $('#similar');
  list.replaceChildren();
  try {
    const r = await api(`/v1/videos/${item.video_id}/similar?k=6`);
    list.replaceChildren(...r.results.map((x) => card(x, 0)));
  } catch (e) {
    list.textContent = t('no_similar', { message: e.message });
  }
}

// Sends what the user did with the video being watched, then refreshes the feed.
async function sendEvent(type) {
  const video = $('#player');
  if (!state.watching) return;
  const user = $('#user').value.trim();
  if (!user) {
    if (type !== 'view') showStatus(t('need_name_event'), 'info');
    return;
  }
  try {
    await api(`/v1/users/${encodeURIComponent(user)}/events`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ video_id: state.watching.id, type, seconds: Number(video.currentTime.toFixed(2)) }),
    });
    const said = { like: 'liked', dislike: 'disliked', skip: 'skipped' }[type];
    if (said) showStatus(t(said), 'info');
    await loadFeed();
  } catch (e) {
    showStatus(t('event_failed', { message: e.message }));
  }
}

function closeWatch() {
  const video = $('#player');
  if (state.watching && state.watching.retry) clearTimeout(state.watching.retry);
  if (state.watching && !state.watching.reported && video.currentTime > 1) sendEvent('view');
  video.pause();
  video.removeAttribute('src');
  video.load();
  state.watching = null;
  $('#watch').hidden = true;
}

// A new search, a picture or "My feed" is a new start: the player open above closes (it
// stayed on screen above the new results). Pages of the same search and the feed's own
// refresh after a like leave it open.
$('#search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  closeWatch();
  state.picture = null;
  state.tag = null;
  search(0);
});
$('#picture').addEventListener('change', () => {
  const file = $('#picture').files[0];
  $('#picture').value = '';
  if (!file) return;
  if (file.size > PICTURE_MAX_BYTES) { // the service refuses it before reading it
    showStatus(t('picture_too_large', { name: file.name, mib: PICTURE_MAX_BYTES >> 20 }), 'error');
    return;
  }
  closeWatch();
  state.picture = file;
  state.tag = null;
  search(0);
});
$('#user-form').addEventListener('submit', (e) => { e.preventDefault(); closeWatch(); loadFeed(); });
$('#prev').addEventListener('click', () => search(Math.max(0, state.offset - PAGE)));
$('#next').addEventListener('click', () => search(state.offset + PAGE));
$('#like').addEventListener('click', () => sendEvent('like'));
$('#dislike').addEventListener('click', () => sendEvent('dislike'));
$('#skip').addEventListener('click', () => { sendEvent('skip'); closeWatch(); });
$('#close').addEventListener('click', closeWatch);
// A file served as it is (its format plays in browsers) that this browser cannot decode
// (a damaged stream): the page asks the service for a rendition, made first, and shows
// the moment's pictures until it is ready; if none can be asked for, it says why.
async function askForRendition(why) {
  const w = state.watching;
  w.asked = true;
  try {
    await api(`/v1/videos/${w.id}/rendition`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ reason: why }) });
  } catch (e) {
    if (state.watching === w) showPlaybackProblem(t(MEDIA_ERRORS[3]));
    return;
  }
  if (state.watching !== w) return;
  const video = $('#player');
  video.removeAttribute('src');
  video.load();
  showStatus(t('rendition_asked'), 'info');
  loadPlayer(w.item, w.start);
}
$('#player').addEventListener('error', () => {
  const v = $('#player');
  if (!state.watching || !v.error || !v.getAttribute('src')) return;
  const w = state.watching;
  if (w.playback === 'direct' && !w.asked && (v.error.code === 3 || v.error.code === 4)) {
    askForRendition(`MediaError ${v.error.code}: ${(v.error.message || '').slice(0, 150)}`);
    return;
  }
  showPlaybackProblem(t(MEDIA_ERRORS[v.error.code] || 'media_unknown'));
});
$('#player').addEventListener('loadeddata', () => {
  const v = $('#player');
  // A file whose sound plays but whose pictures the browser cannot decode.
  if (state.watching && v.videoWidth === 0) showPlaybackProblem(t('sound_only'));
});
$('#player').addEventListener('ended', () => {
  if (state.watching) { state.watching.reported = true; sendEvent('complete'); }
});
// The language switch: the page again in the other language, what it shows included.
$('#lang').addEventListener('change', () => {
  lang = LANGUAGES[$('#lang').value] ? $('#lang').value : 'en';
  localStorage.setItem('vidx.lang', lang);
  applyLanguage();
  showStatus('');
  if (!$('#results-section').hidden) search(state.offset);
  if (!$('#feed-section').hidden) loadFeed();
  if (state.watching) {
    const { item, start } = state.watching;
    $('#watch-moment').textContent = start > 0 ? t('from_moment', { at: clock(start) }) : '';
    showCopies(item.copy_ids || []);
    if (state.watching.info) showStoryboard(state.watching.info);
  }
  checkModel();
});
$('#user').value = state.user;
if (state.user) loadFeed();

// Without the CLIP model the service answers from words (titles, subtitles, file names)
// and says so here until the model is in place; it takes the model up on its own.
async function checkModel() {
  let health;
  try {
    health = await api('/healthz');
  } catch (err) {
    return;
  }
  const waiting = health.visual_search && health.visual_search !== 'on';
  const note = $('#model-note');
  note.hidden = !waiting;
  if (!waiting) return;
  note.textContent = t('model_waiting', { problem: health.model_problem || t('no_model') });
  setTimeout(checkModel, 15000);
}
checkModel();
