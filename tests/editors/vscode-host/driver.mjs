// Drives a running code-server in headless Chromium for tests/editors/test_vscode.py.
//
//   node driver.mjs '{"chromium": "/usr/bin/chromium", "profile": DIR, "screenshots": DIR}'
//
// It reads one request per line on stdin, {"id": N, "op": NAME, ...arguments},
// and answers each with one line on stdout: {"id": N, "ok": true, "result": ...}
// or {"id": N, "ok": false, "error": MESSAGE, "screenshot": PATH}.
//
// The operations are what a user does (press keys, type, hover, pick from a
// menu) and what a user sees (the Problems panel, a hover, the active
// editor's lines), read from the workbench's DOM. Waiting for den-lsp is the
// test's job; an operation only waits for the widget it opens.

import { mkdirSync } from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline";

import { chromium } from "playwright-core";

const config = JSON.parse(process.argv[2]);
const WIDGET_TIMEOUT = 30_000;
const WORKBENCH_TIMEOUT = 120_000;

let context;
let page;
let shots = 0;

// Chromium never needs the network here: code-server is on 127.0.0.1, and
// these switches stop its own background requests (updates, sync, QUIC).
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const ops = {
  /** Start Chromium on a fresh profile and load the workbench at `url`. */
  async open({ url }) {
    context = await chromium.launchPersistentContext(config.profile, {
      executablePath: config.chromium,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1400, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(WIDGET_TIMEOUT);
    await page.goto(url);
    await page.locator(".monaco-workbench .part.editor").waitFor({ timeout: WORKBENCH_TIMEOUT });
    await page.locator(".explorer-folders-view .monaco-list-row").first().waitFor({
      timeout: WORKBENCH_TIMEOUT,
    });
    return await page.title();
  },

  async press({ keys }) {
    for (const key of keys) {
      await page.keyboard.press(key);
    }
  },

  async type({ text }) {
    await page.keyboard.type(text);
  },

  /** Quick Open (Ctrl+P): type a file name and open the entry with that label. */
  async quickOpen({ name }) {
    await page.keyboard.press("Control+P");
    await quickPick(name);
    await activeTab().filter({ hasText: name }).waitFor();
  },

  /** The command palette (Ctrl+Shift+P): find a command by its label and run it. */
  async runCommand({ label }) {
    await page.keyboard.press("Control+Shift+P");
    await quickPick(label);
  },

  /** Go to Line (Ctrl+G), and wait for the status bar to show the new position. */
  async goTo({ line, column }) {
    await page.keyboard.press("Control+G");
    await page.locator(".quick-input-widget input").waitFor();
    await page.keyboard.type(`${line}:${column}`);
    await page.keyboard.press("Enter");
    await page
      .locator("#status\\.editor\\.selection")
      .filter({ hasText: `Ln ${line}, Col ${column}` })
      .waitFor();
  },

  /** The Problems panel's entries, or null while the panel is not open. */
  async problems() {
    const panel = page.locator(".markers-panel");
    if (!(await panel.isVisible())) {
      return null;
    }
    return await panel.locator(".monaco-list-row").evaluateAll((rows) =>
      rows
        .filter((row) => row.querySelector(".marker-message") !== null)
        .map((row) => ({
          severity: ["error", "warning", "info"].find((name) =>
            row.querySelector(".marker-icon").classList.contains(name),
          ),
          message: row.querySelector(".marker-message").textContent,
          source: row.querySelector(".marker-source")?.textContent ?? null,
          code: row.querySelector(".marker-code")?.textContent ?? null,
          position: row.querySelector(".marker-line")?.textContent ?? null,
        })),
    );
  },

  /** Move the mouse onto the character after the cursor; read the hover it opens. */
  async hoverAtCursor() {
    const cursor = await page.locator(".monaco-editor.focused .cursor").first().boundingBox();
    await page.mouse.move(cursor.x + 4, cursor.y + cursor.height / 2);
    const hover = page.locator(".monaco-hover:visible", { has: page.locator(".rendered-markdown") });
    await hover.first().waitFor();
    return await hover.first().evaluate(readHover);
  },

  /** Move the mouse to a corner of the editor, away from any text. */
  async unhover() {
    const editor = await page.locator(".editor-group-container.active .monaco-editor").boundingBox();
    await page.mouse.move(editor.x + editor.width - 30, editor.y + editor.height - 10);
    await page.locator(".monaco-hover:visible .rendered-markdown").first().waitFor({ state: "hidden" });
  },

  /** The entries of the open action menu (the lightbulb's, Ctrl+.). */
  async menu() {
    const widget = page.locator(".action-widget");
    await widget.locator(".monaco-list-row").first().waitFor();
    return await widget.locator(".monaco-list-row.action").evaluateAll((rows) =>
      rows.map((row) => row.getAttribute("aria-label")),
    );
  },

  /** Pick an entry of the open action menu with the arrow keys and Enter. */
  async choose({ label }) {
    const entries = await ops.menu();
    if (!entries.includes(label)) {
      throw new Error(`the menu has no entry ${JSON.stringify(label)}: ${JSON.stringify(entries)}`);
    }
    const focused = page.locator(".action-widget .monaco-list-row.action.focused");
    for (let step = 0; step <= entries.length; step++) {
      if ((await focused.getAttribute("aria-label")) === label) {
        await page.keyboard.press("Enter");
        await page.locator(".action-widget").waitFor({ state: "hidden" });
        return;
      }
      await page.keyboard.press("ArrowDown");
    }
    throw new Error(`could not focus the menu entry ${JSON.stringify(label)}`);
  },

  /** The active editor: its tab's label, dirty or not, its language, its visible lines. */
  async activeEditor() {
    const tab = activeTab();
    const editor = page.locator(".editor-group-container.active .monaco-editor").first();
    const lines = await editor.locator(".view-lines .view-line").evaluateAll((elements) =>
      elements
        .map((element) => [parseFloat(element.style.top), element.textContent.replaceAll("\u00a0", " ")])
        .sort((a, b) => a[0] - b[0])
        .map(([, text]) => text),
    );
    const language = page.locator("#status\\.editor\\.mode");
    return {
      tab: await tab.getAttribute("aria-label"),
      dirty: (await tab.getAttribute("class")).split(" ").includes("dirty"),
      language: (await language.isVisible()) ? (await language.innerText()).trim() : null,
      lines,
    };
  },

  /** The message the editor shows over the text (e.g. when it refuses an edit). */
  async editorMessage() {
    const message = page.locator(".editor-group-container.active .monaco-editor-overlaymessage");
    await message.first().waitFor();
    return await message.first().innerText();
  },

  async screenshot({ name }) {
    return await screenshot(name);
  },

  async quit() {
    await context?.close();
    return null;
  },
};

function activeTab() {
  return page.locator(".editor-group-container.active .tabs-container .tab.active");
}

/** Type into the open quick input and accept the entry labelled `label`. */
async function quickPick(label) {
  const input = page.locator(".quick-input-widget input");
  await input.waitFor();
  await page.keyboard.type(label);
  const row = page.locator(".quick-input-widget .monaco-list-row", {
    has: page.locator(".label-name", { hasText: label }),
  });
  await row.first().waitFor();
  const rows = page.locator(".quick-input-widget .monaco-list-row");
  for (let step = 0; step < 20; step++) {
    const focused = await rows.evaluateAll(
      (elements, wanted) =>
        elements.some(
          (element) =>
            element.classList.contains("focused") &&
            element.querySelector(".label-name")?.textContent === wanted,
        ),
      label,
    );
    if (focused) {
      await page.keyboard.press("Enter");
      await page.locator(".quick-input-widget").waitFor({ state: "hidden" });
      return;
    }
    await page.keyboard.press("ArrowDown");
  }
  throw new Error(`no quick input entry labelled ${JSON.stringify(label)}`);
}

/** A visible hover, read in the page: its diagnostics and its rendered markdown. */
function readHover(hover) {
  const own = (element) => {
    // A list item's own content, without the lists nested in it.
    const copy = element.cloneNode(true);
    for (const nested of copy.querySelectorAll("ul, ol")) {
      nested.remove();
    }
    return copy.innerHTML.trim();
  };
  return {
    diagnostics: [...hover.querySelectorAll(".marker.hover-contents")].map((part) => part.innerText),
    markdown: [...hover.querySelectorAll(".rendered-markdown")].map((part) =>
      [...part.querySelectorAll("p, li, h1, h2, h3, h4, pre")].map((block) => ({
        tag: block.tagName.toLowerCase(),
        html: own(block),
      })),
    ),
  };
}

async function screenshot(name) {
  if (page === undefined) {
    return null;
  }
  mkdirSync(config.screenshots, { recursive: true });
  shots += 1;
  const file = path.join(config.screenshots, `${String(shots).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

function answer(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const { id, op, ...args } = JSON.parse(line);
  try {
    if (!(op in ops)) {
      throw new Error(`unknown operation ${op}`);
    }
    answer({ id, ok: true, result: (await ops[op](args)) ?? null });
  } catch (error) {
    let shot = null;
    try {
      shot = await screenshot(`failed-${op}`);
    } catch {
      // The page is gone; the error says why.
    }
    answer({ id, ok: false, error: String(error?.message ?? error), screenshot: shot });
  }
  if (op === "quit") {
    break;
  }
}
// stdin, and Playwright's connection if the browser would not close, would
// keep Node running.
process.exit(0);
