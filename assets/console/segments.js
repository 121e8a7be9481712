// medrelay console: the SMS segment counter, live as an admin types. The same rules as
// channels/src/segments.rs (which the page's first count comes from): one character outside
// GSM 03.38 makes the whole text UCS-2; one SMS is 140 octets (160 septets / 70 UCS-2 units),
// a longer text is split in parts of 134 octets (153 / 67), and a part never splits a
// character a reader sees as one (a grapheme) nor a GSM-7 escape pair. CR LF counts as two.
"use strict";

(() => {
  const BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà";
  const EXTENSION = "\f^{}\\[~]|€";
  const SINGLE_BITS = 1120;
  const PART_BITS = 1072;

  const characters = (text) => {
    const graphemes = typeof Intl !== "undefined" && Intl.Segmenter
      ? Array.from(new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(text), (s) => s.segment)
      : Array.from(text);
    return graphemes.flatMap((g) => (g === "\r\n" ? ["\r", "\n"] : [g]));
  };

  const septets = (character) => {
    if (Array.from(character).length !== 1) return null;
    if (/^[A-Za-z0-9]$/.test(character) || BASIC.includes(character)) return 1;
    if (EXTENSION.includes(character)) return 2;
    return null;
  };

  const analyse = (text) => {
    const chars = characters(text);
    const gsm = chars.map(septets);
    const isGsm = gsm.every((n) => n !== null);
    const units = isGsm ? gsm : chars.map((c) => c.length); // UTF-16 code units
    const bits = units.map((u) => u * (isGsm ? 7 : 16));
    const total = bits.reduce((a, b) => a + b, 0);
    let segments = 0;
    if (total > 0 && total <= SINGLE_BITS) {
      segments = 1;
    } else if (total > SINGLE_BITS) {
      segments = 1;
      let fill = 0;
      for (const size of bits) {
        if (fill + size > PART_BITS && fill > 0) {
          segments += 1;
          fill = 0;
        }
        fill += size;
      }
    }
    return {
      encoding: isGsm ? "GSM-7" : "UCS-2",
      units: units.reduce((a, b) => a + b, 0),
      segments,
    };
  };

  // As the server's sample: {{clinic}} is the clinic's name, any other placeholder its own name.
  const sample = (text, clinic) =>
    text.replace(/\{\{([a-z][a-z0-9_]*)\}\}/g, (_, name) => (name === "clinic" ? clinic : name));

  const update = (field) => {
    const output = document.getElementById(field.getAttribute("data-segments"));
    if (!output) return;
    const cost = analyse(sample(field.value.replace(/\r\n/g, "\n"), field.getAttribute("data-clinic") || ""));
    for (const [name, value] of Object.entries(cost)) {
      const span = output.querySelector(`[data-seg="${name}"]`);
      if (span) span.textContent = String(value);
    }
    const above = Number(output.getAttribute("data-warn-above") || "3");
    output.classList.toggle("warning", cost.segments > above);
  };

  document.addEventListener("input", (event) => {
    if (event.target.hasAttribute && event.target.hasAttribute("data-segments")) {
      update(event.target);
    }
  });
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-segments]").forEach(update);
  });
})();
