// The drawing page of `xpnet serve`: draw on the pad, and the server's networks classify the drawing as it
// grows (debounced), showing each one's digit, probabilities and insides. No framework, no build step.
"use strict";

const INK = 20;          // stroke width on the 280x280 pad: MNIST's strokes are 2 to 3 of 28 pixels
const DEBOUNCE_MS = 120; // wait this long after the last stroke movement before asking again

const pad = document.getElementById("pad");
const context = pad.getContext("2d");
const seen = document.getElementById("seen");
const results = document.getElementById("results");
const status = document.getElementById("status");
const truth = document.getElementById("truth");
let models = [];
let inked = false;
let drawing = null;
let timer = null;
let asked = 0;

function clearPad() {
  context.fillStyle = "#fff";
  context.fillRect(0, 0, pad.width, pad.height);
  seen.getContext("2d").clearRect(0, 0, seen.width, seen.height);
  inked = false;
  truth.textContent = "";
  status.textContent = "";
  asked += 1; // answers to earlier questions are stale now
  renderCards(null);
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height];
}

function stroke(from, to) {
  context.strokeStyle = "#000";
  context.lineWidth = INK;
  context.lineCap = "round";
  context.lineJoin = "round";
  context.beginPath();
  context.moveTo(...from);
  context.lineTo(...to);
  context.stroke();
  inked = true;
  truth.textContent = "";
  schedule();
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(predict, DEBOUNCE_MS);
}

async function predict() {
  if (!inked) return;
  const question = ++asked;
  const body = await new Promise((resolve) => pad.toBlob(resolve, "image/png"));
  try {
    const answer = await fetch("/predict", { method: "POST", headers: { "Content-Type": "image/png" }, body });
    const result = await answer.json();
    if (question !== asked) return;
    if (!answer.ok) {
      status.textContent = result.error;
      return;
    }
    status.textContent = "";
    showSeen(result.input);
    renderCards(result.models);
  } catch (error) {
    status.textContent = `The server did not answer (${error.message}).`;
  }
}

function showSeen(pixels) {
  const image = seen.getContext("2d").createImageData(28, 28);
  pixels.forEach((value, i) => {
    image.data.set([value, value, value, 255], 4 * i);
  });
  seen.getContext("2d").putImageData(image, 0, 0);
}

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

function renderCards(answers) {
  results.replaceChildren(results.firstElementChild);
  for (const model of models) {
    const answer = answers && answers.find((a) => a.name === model.name);
    const card = element("article", { class: "model", "data-model": model.name, "aria-label": model.title });
    card.append(element("h3", {}, model.title));
    const verdict = element("p", { class: "verdict" }, answer ? "sees" : "waiting for a drawing");
    if (answer) {
      verdict.append(element("span", { class: "digit", "data-digit": String(answer.digit) }, String(answer.digit)));
      verdict.append(` (${(100 * answer.probabilities[answer.digit]).toFixed(1)}%)`);
    }
    card.append(verdict);
    if (answer) {
      card.append(bars(answer));
      answer.insides.forEach((inside, k) => card.append(picture(inside, k)));
    }
    results.append(card);
  }
}

function bars(answer) {
  const chart = element("div", { class: "bars", role: "img",
    "aria-label": answer.probabilities.map((p, d) => `${d}: ${(100 * p).toFixed(1)}%`).join(", ") });
  answer.probabilities.forEach((p, digit) => {
    chart.append(element("span", {}, String(digit)));
    const bar = element("div", { class: digit === answer.digit ? "bar top" : "bar" });
    bar.style.width = `${Math.max(0.5, 100 * p)}%`;
    chart.append(bar, element("span", {}, `${(100 * p).toFixed(1)}%`));
  });
  return chart;
}

function heat(values, width, height) {
  // one map as a small canvas, white where the layer's output is largest
  const canvas = element("canvas", { width: String(width), height: String(height) });
  const image = canvas.getContext("2d").createImageData(width, height);
  const top = Math.max(...values, 1e-9);
  values.forEach((value, i) => {
    const level = Math.round(255 * Math.max(0, value) / top);
    image.data.set([level, level, Math.min(255, 64 + level), 255], 4 * i);
  });
  canvas.getContext("2d").putImageData(image, 0, 0);
  return canvas;
}

function picture(inside, k) {
  const block = element("div", { class: "inside" });
  const [first, height, width] = inside.shape;
  if (inside.shape.length === 1) {
    block.append(element("div", {}, `Hidden layer ${k + 1}: ${first} units (${inside.layer})`));
    const strip = heat(inside.values, first, 1);
    strip.classList.add("strip");
    strip.setAttribute("aria-label", `${first} activations of ${inside.layer}`);
    block.append(strip);
  } else {
    block.append(element("div", {}, `${first} feature maps of ${height}x${width} (${inside.layer})`));
    const maps = element("div", { class: "maps", role: "img", "aria-label": `${first} feature maps of ${inside.layer}` });
    for (let c = 0; c < first; c++) {
      maps.append(heat(inside.values.slice(c * height * width, (c + 1) * height * width), width, height));
    }
    block.append(maps);
  }
  return block;
}

async function randomDigit() {
  const answer = await fetch("/random");
  const digit = await answer.json();
  if (!answer.ok) {
    status.textContent = digit.error;
    return;
  }
  clearPad();
  const small = document.createElement("canvas");
  small.width = small.height = 28;
  const image = small.getContext("2d").createImageData(28, 28);
  digit.pixels.forEach((value, i) => {
    image.data.set([255 - value, 255 - value, 255 - value, 255], 4 * i); // dark ink on white, as drawn
  });
  small.getContext("2d").putImageData(image, 0, 0);
  context.imageSmoothingEnabled = true;
  context.drawImage(small, 0, 0, pad.width, pad.height);
  inked = true;
  truth.textContent = `Test image ${digit.index}: the label is ${digit.label}`;
  truth.dataset.label = String(digit.label);
  predict();
}

pad.addEventListener("pointerdown", (event) => {
  pad.setPointerCapture(event.pointerId);
  drawing = point(event);
  stroke(drawing, drawing);
});
pad.addEventListener("pointermove", (event) => {
  if (drawing === null) return;
  const next = point(event);
  stroke(drawing, next);
  drawing = next;
});
for (const end of ["pointerup", "pointercancel"]) pad.addEventListener(end, () => { drawing = null; });
document.getElementById("clear").addEventListener("click", clearPad);
document.getElementById("random").addEventListener("click", randomDigit);

fetch("/models").then((answer) => answer.json()).then((about) => {
  models = about.models;
  document.getElementById("where").textContent = `Running on ${about.backend} (${about.device}).`;
  clearPad();
});
