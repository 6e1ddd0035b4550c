// The den extension: a language client for `nix` documents that runs
// den-lsp beside whatever Nix language server is installed, and three
// commands. It declares no language: `.nix` files keep the language another
// extension (Nix IDE) gives them, and that extension keeps its own client.

import * as path from "node:path";

import * as vscode from "vscode";
import {
  DocumentSelector,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
} from "vscode-languageclient/node";

import { codeChoices, CliOutcome, explainRule, ruleCodes, scopeGraph } from "./cli";
import { DenCommand, findServer, INSTALL_COMMAND, nodeHost } from "./discovery";
import {
  inlayHintsEnabled,
  ReadSetting,
  RESTART_SETTINGS,
  SECTION,
  serverSettings,
  ServerSettings,
} from "./settings";

const CLIENT_ID = "den";
const CLIENT_NAME = "den-lsp";
const SCHEME = "den";

// `nix` documents, and `.nix` files on disk whatever language another
// extension gives them (plain text when no Nix extension is installed).
const DOCUMENTS: DocumentSelector = [
  { scheme: "file", language: "nix" },
  { scheme: "untitled", language: "nix" },
  { scheme: "file", pattern: "**/*.nix" },
];

let output: vscode.LogOutputChannel;
let client: LanguageClient | undefined;
let server: DenCommand | undefined;
let lastProblems = "";
const views = new Map<string, string>();
const viewChanged = new vscode.EventEmitter<vscode.Uri>();

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel(CLIENT_NAME, { log: true });
  context.subscriptions.push(
    output,
    viewChanged,
    vscode.workspace.registerTextDocumentContentProvider(SCHEME, {
      onDidChange: viewChanged.event,
      provideTextDocumentContent: (uri) => views.get(uri.toString()) ?? "",
    }),
    vscode.commands.registerCommand("den.restartServer", guarded(restart)),
    vscode.commands.registerCommand("den.showScopeGraph", guarded(showScopeGraph)),
    vscode.commands.registerCommand("den.explainRule", guarded(explain)),
    vscode.workspace.onDidChangeConfiguration(guarded(onConfigurationChanged)),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await stop();
}

// -- the language client ------------------------------------------------------

async function start(): Promise<void> {
  const found = await discover();
  if (found === undefined) {
    return;
  }
  server = found;
  const serverOptions: ServerOptions = {
    command: found.command,
    args: [...found.args, "serve"],
    options: { cwd: workspaceFolder() },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: DOCUMENTS,
    outputChannel: output,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    // The server pulls `den` with workspace/configuration when told that
    // settings changed; the middleware below answers in the server's shape.
    synchronize: { configurationSection: SECTION },
    initializationOptions: () => settingsFor(undefined),
    initializationFailedHandler: (error) => {
      report(`den-lsp could not start: ${messageOf(error)}. See the den-lsp output for details.`);
      return false;
    },
    middleware: {
      workspace: {
        configuration: async (params, token, next) => {
          const answer = await next(params, token);
          if (!Array.isArray(answer)) {
            return answer;
          }
          return params.items.map((item, index) =>
            item.section === SECTION ? settingsFor(item.scopeUri) : answer[index],
          );
        },
      },
      provideInlayHints: (document, range, token, next) =>
        inlayHintsEnabled(reader(document.uri)) ? next(document, range, token) : [],
    },
  };

  const started = new LanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, clientOptions);
  client = started;
  output.appendLine(`Starting ${[found.command, ...found.args, "serve"].join(" ")} (found by ${found.source})`);
  try {
    await started.start();
  } catch (error) {
    report(`den-lsp could not start: ${messageOf(error)}. See the den-lsp output for details.`);
  }
}

async function stop(): Promise<void> {
  const running = client;
  client = undefined;
  if (running === undefined) {
    return;
  }
  try {
    await running.stop();
  } catch (error) {
    output.appendLine(`Stopping den-lsp: ${messageOf(error)}`);
  }
}

async function restart(): Promise<void> {
  await stop();
  server = undefined;
  await start();
}

/** Find den-lsp, or show the one message that says how to install it. */
async function discover(): Promise<DenCommand | undefined> {
  const config = vscode.workspace.getConfiguration(SECTION);
  const found = await findServer(
    {
      serverPath: config.get("server.path"),
      python: config.get("server.python"),
      workspaceFolder: workspaceFolder(),
    },
    nodeHost(),
  );
  if (found.ok) {
    return found.server;
  }
  output.appendLine(found.message);
  const copy = "Copy install command";
  const settings = "Open settings";
  void vscode.window.showErrorMessage(found.message, copy, settings).then((choice) => {
    if (choice === copy) {
      void vscode.env.clipboard.writeText(INSTALL_COMMAND);
    } else if (choice === settings) {
      void vscode.commands.executeCommand("workbench.action.openSettings", "den.server");
    }
  });
  return undefined;
}

async function onConfigurationChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
  if (RESTART_SETTINGS.some((key) => event.affectsConfiguration(key))) {
    output.appendLine("The den-lsp command changed; restarting the server.");
    await restart();
    return;
  }
  if (event.affectsConfiguration(`${SECTION}.inlayHints`)) {
    refreshInlayHints();
  }
  // Profile, severities and excludes reach the running server through the
  // client's configuration sync; it re-reads the workspace without a restart.
}

function refreshInlayHints(): void {
  // The client's inlay hint provider re-asks the server when its change
  // event fires; there is no provider while the server offers no hints.
  const feature = client?.getFeature("textDocument/inlayHint");
  for (const editor of vscode.window.visibleTextEditors) {
    feature?.getProvider(editor.document)?.onDidChangeInlayHints.fire();
  }
}

// -- settings -------------------------------------------------------------------

/** What the user set for `den.<key>`, in a folder's scope; undefined if unset. */
function reader(scope: vscode.Uri | undefined): ReadSetting {
  const config = vscode.workspace.getConfiguration(SECTION, scope);
  return (key) => {
    const inspected = config.inspect(key);
    return inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
  };
}

function settingsFor(scopeUri: string | undefined): ServerSettings {
  const scope = scopeUri === undefined ? undefined : vscode.Uri.parse(scopeUri);
  const { settings, problems } = serverSettings(reader(scope));
  const text = problems.join("\n");
  if (text !== lastProblems) {
    lastProblems = text;
    for (const problem of problems) {
      output.appendLine(`Settings: ${problem}`);
    }
  }
  return settings;
}

// -- commands -------------------------------------------------------------------

async function showScopeGraph(): Promise<void> {
  const folder = await pickFolder();
  if (folder === undefined) {
    return;
  }
  const den = await serverForCommand();
  if (den === undefined) {
    return;
  }
  const outcome = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: "den: reading the scope graph" },
    () => scopeGraph(den, folder),
  );
  await showView(outcome, `/Scope graph of ${path.basename(folder)}.txt`);
}

async function explain(code?: unknown): Promise<void> {
  const den = await serverForCommand();
  if (den === undefined) {
    return;
  }
  let chosen = typeof code === "string" && code.startsWith("den/") ? code : undefined;
  if (chosen === undefined) {
    // The codes come from this den-lsp (`den-lsp explain`); the pick shows
    // as busy until they do.
    const onScreen = codesOnScreen();
    chosen = await vscode.window.showQuickPick(
      ruleCodes(den, workspaceFolder()).then((known) => codeChoices(onScreen, known)),
      { placeHolder: "Which den rule?" },
    );
  }
  if (chosen === undefined) {
    return;
  }
  const outcome = await explainRule(den, chosen, workspaceFolder());
  await showView(outcome, `/${chosen}.md`);
}

/** Open a command's output as a read-only document, or say why there is none. */
async function showView(outcome: CliOutcome, title: string): Promise<void> {
  if (!outcome.ok) {
    output.appendLine(outcome.message);
    void vscode.window.showWarningMessage(outcome.message);
    return;
  }
  const uri = vscode.Uri.from({ scheme: SCHEME, path: title });
  views.set(uri.toString(), outcome.text);
  viewChanged.fire(uri);
  const document = await vscode.workspace.openTextDocument(uri);
  await vscode.window.showTextDocument(document, { preview: true });
}

async function serverForCommand(): Promise<DenCommand | undefined> {
  return server ?? (server = await discover());
}

function codesOnScreen(): string[] {
  const codes: string[] = [];
  for (const [, diagnostics] of vscode.languages.getDiagnostics()) {
    for (const diagnostic of diagnostics) {
      const code = typeof diagnostic.code === "object" ? diagnostic.code.value : diagnostic.code;
      if (diagnostic.source === CLIENT_NAME && typeof code === "string") {
        codes.push(code);
      }
    }
  }
  return codes;
}

async function pickFolder(): Promise<string | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length === 1) {
    return folders[0].uri.fsPath;
  }
  if (folders.length > 1) {
    const picked = await vscode.window.showWorkspaceFolderPick({
      placeHolder: "Show the scope graph of which folder?",
    });
    return picked?.uri.fsPath;
  }
  const active = vscode.window.activeTextEditor?.document.uri;
  if (active?.scheme === "file") {
    return path.dirname(active.fsPath);
  }
  void vscode.window.showInformationMessage("Open a folder with a den configuration first.");
  return undefined;
}

function workspaceFolder(): string | undefined {
  const active = vscode.window.activeTextEditor?.document.uri;
  const folder =
    (active && vscode.workspace.getWorkspaceFolder(active)) ?? vscode.workspace.workspaceFolders?.[0];
  return folder?.uri.scheme === "file" ? folder.uri.fsPath : undefined;
}

// -- errors -----------------------------------------------------------------------

/** A command or event handler that reports failures as one line, never a trace. */
function guarded<A extends unknown[]>(handler: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await handler(...args);
    } catch (error) {
      report(`den: ${messageOf(error)}`);
    }
  };
}

function report(message: string): void {
  output.appendLine(message);
  void vscode.window.showErrorMessage(message);
}

function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split(/\r?\n/)[0];
}
