// Lighthouse-style accessibility basics, run in the page by `Browser::accessibility_violations`.
// Returns one line per fault, naming the element; an empty list when the page passes.
// What is hidden from everyone (display:none, visibility:hidden, aria-hidden) is not checked,
// as a screen reader does not meet it either.
const faults = [];
const html = document.documentElement;

const describe = (el) => {
  let name = el.tagName.toLowerCase();
  if (el.id) name += '#' + el.id;
  if (el.getAttribute('name')) name += '[name=' + el.getAttribute('name') + ']';
  const cls = el.getAttribute('class');
  if (cls) name += '.' + cls.trim().split(/\s+/).join('.');
  const text = (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40);
  return text ? name + ' "' + text + '"' : name;
};
const hidden = (el) => {
  for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
    if (e.getAttribute('aria-hidden') === 'true' || e.hidden) return true;
    const style = getComputedStyle(e);
    if (style.display === 'none') return true;
  }
  return getComputedStyle(el).visibility === 'hidden';
};
const textById = (id) => {
  const el = document.getElementById(id);
  return el ? el.textContent.trim() : '';
};
const ariaName = (el) => {
  const label = (el.getAttribute('aria-label') || '').trim();
  if (label) return label;
  return (el.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean)
    .map(textById).join(' ').trim();
};
// A control's name as assistive technology computes it, simplified: ARIA, its labels, its
// content (text and images' alt), a button-like input's value, its title.
const accessibleName = (el) => {
  const aria = ariaName(el);
  if (aria) return aria;
  if (el.labels && el.labels.length) {
    const fromLabels = Array.from(el.labels).map((l) => l.textContent.trim()).join(' ').trim();
    if (fromLabels) return fromLabels;
  }
  if (el.tagName === 'INPUT' && ['submit', 'button', 'reset'].includes(el.type)) {
    return (el.value || (el.type === 'submit' ? 'Submit' : '')).trim();
  }
  if (el.tagName === 'INPUT' && el.type === 'image') return (el.alt || '').trim();
  const content = (el.innerText || el.textContent || '').trim();
  if (content) return content;
  const alts = Array.from(el.querySelectorAll('img[alt], svg title'))
    .map((i) => (i.getAttribute('alt') || i.textContent || '').trim()).join(' ').trim();
  if (alts) return alts;
  return (el.getAttribute('title') || '').trim();
};

// The document's language and direction.
if (!(html.getAttribute('lang') || '').trim()) faults.push('<html> has no lang');
if (!['ltr', 'rtl'].includes(html.getAttribute('dir'))) {
  faults.push('<html> has no dir="ltr|rtl" (it has ' + html.getAttribute('dir') + ')');
}

// One <h1>, saying what the page is.
const h1s = Array.from(document.querySelectorAll('h1'));
if (h1s.length !== 1) faults.push('the page has ' + h1s.length + ' <h1>, not one');
if (!(document.title || '').trim()) faults.push('the page has no <title>');

// Every form field has a label (a <label>, aria-label or aria-labelledby; a placeholder or
// title is no label).
for (const field of document.querySelectorAll('input, select, textarea')) {
  if (field.type === 'hidden' || hidden(field)) continue;
  if (['submit', 'button', 'reset', 'image'].includes(field.type)) {
    if (!accessibleName(field)) faults.push('button without a name: ' + describe(field));
    continue;
  }
  const labelled = ariaName(field) ||
    (field.labels && Array.from(field.labels).some((l) => l.textContent.trim()));
  if (!labelled) faults.push('form field without a label: ' + describe(field));
}

// Every image has alt text ("" for a decorative one); an SVG drawn as an image has a name.
for (const img of document.querySelectorAll('img')) {
  if (!img.hasAttribute('alt')) faults.push('image without alt: ' + describe(img) + ' ' + img.src);
}
for (const svg of document.querySelectorAll('svg[role="img"]')) {
  const titled = svg.querySelector(':scope > title');
  if (!ariaName(svg) && !(titled && titled.textContent.trim())) {
    faults.push('svg role=img without a name: ' + describe(svg));
  }
}

// Buttons and links have a name.
for (const el of document.querySelectorAll('button, a[href], [role="button"], [role="link"]')) {
  if (hidden(el)) continue;
  if (!accessibleName(el)) faults.push(el.tagName.toLowerCase() + ' without a name: ' + describe(el));
}

// Text contrast, WCAG 2 AA: 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold). Colours are
// read through a canvas, so every CSS colour syntax the page uses comes back as sRGB bytes.
const canvas = document.createElement('canvas');
canvas.width = canvas.height = 1;
const ctx = canvas.getContext('2d', { willReadFrequently: true });
const rgba = (css) => {
  ctx.clearRect(0, 0, 1, 1);
  ctx.fillStyle = '#000';
  ctx.fillStyle = css;
  ctx.fillRect(0, 0, 1, 1);
  const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data;
  return [r, g, b, a / 255];
};
const over = (top, below) => {
  const a = top[3];
  return [0, 1, 2].map((i) => top[i] * a + below[i] * (1 - a)).concat([1]);
};
const luminance = (c) => {
  const [r, g, b] = c.slice(0, 3).map((v) => {
    const s = v / 255;
    return s <= 0.04045 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
// The colour behind `el`: its own and its ancestors' backgrounds, blended over white. Null
// where a background image or gradient makes it unknowable from styles alone.
const background = (el) => {
  const layers = [];
  for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
    const style = getComputedStyle(e);
    if (style.backgroundImage && style.backgroundImage !== 'none') return null;
    const colour = rgba(style.backgroundColor);
    if (colour[3] > 0) layers.push(colour);
    if (colour[3] >= 1) break;
  }
  return layers.reverse().reduce((below, top) => over(top, below), [255, 255, 255, 1]);
};
const seen = new Set();
const walker = document.createTreeWalker(document.body || html, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const el = node.parentElement;
  if (!el || seen.has(el) || !node.textContent.trim()) continue;
  seen.add(el);
  if (['SCRIPT', 'STYLE', 'NOSCRIPT', 'TITLE', 'OPTION'].includes(el.tagName)) continue;
  if (hidden(el) || el.closest('[disabled]') || el.getClientRects().length === 0) continue;
  const style = getComputedStyle(el);
  const behind = background(el);
  if (!behind) continue;
  const fg = over(rgba(style.color), behind);
  const [l1, l2] = [luminance(fg), luminance(behind)].sort((a, b) => b - a);
  const ratio = (l1 + 0.05) / (l2 + 0.05);
  const size = parseFloat(style.fontSize);
  const bold = parseInt(style.fontWeight, 10) >= 700;
  const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  if (ratio < needed) {
    faults.push('contrast ' + ratio.toFixed(2) + ':1 < ' + needed + ':1 (' + style.color +
      ' on ' + 'rgb(' + behind.slice(0, 3).map(Math.round).join(', ') + ')): ' + describe(el));
  }
}
return faults;
