"""A stand-in for nil or nixd: a second Nix language server on the same buffer.

It publishes one diagnostic, from source ``nil``, on the first line of every
document it is told about, and offers nothing else. The editor tests start it
beside den-lsp to show that both attach and neither hides the other.
"""

from lsprotocol import types
from pygls.lsp.server import LanguageServer

server = LanguageServer("fake-nil", "1")


def _publish(ls: LanguageServer, uri: str) -> None:
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(
            uri=uri,
            diagnostics=[
                types.Diagnostic(
                    range=types.Range(
                        start=types.Position(line=0, character=0),
                        end=types.Position(line=0, character=1),
                    ),
                    message="fake nil: this file was read",
                    source="nil",
                    severity=types.DiagnosticSeverity.Hint,
                )
            ],
        )
    )


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: LanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    _publish(ls, params.text_document.uri)


if __name__ == "__main__":
    server.start_io()
