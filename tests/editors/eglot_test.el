;;; eglot_test.el --- den-lsp through eglot in a batch Emacs  -*- lexical-binding: t; -*-

;; Run by test_emacs.py as
;;   emacs --batch -Q -l eglot_test.el FILE COMMAND ARGS...
;; It sets eglot up the way README.md tells a user to, opens FILE, connects
;; with M-x eglot, waits for flymake to show den-lsp's diagnostics and
;; prints them as one JSON line: {"diagnostics": [...], "server": ...}.


(require 'eglot)
(require 'flymake)
(require 'json)

(let* ((args command-line-args-left)
       (count (string-to-number (nth 0 args)))
       (file (nth 1 args))
       (snippet (nth 2 args)))
  (setq command-line-args-left nil)

  ;; No Nix major mode ships with Emacs; nix-mode from MELPA is a derived
  ;; mode just like this one, so eglot treats them the same.
  (unless (fboundp 'nix-mode)
    (define-derived-mode nix-mode prog-mode "Nix"))
  (add-to-list 'auto-mode-alist '("\\.nix\\'" . nix-mode))

  (load snippet nil t)

  (find-file file)
  (let ((inhibit-message t))
    (call-interactively #'eglot))

  (let ((deadline (+ (float-time) 30))
        diagnostics)
    (while (and (< (float-time) deadline)
                (< (length (setq diagnostics (flymake-diagnostics))) count))
      (accept-process-output nil 0.1))
    (setq diagnostics
          (sort diagnostics (lambda (a b) (< (flymake-diagnostic-beg a)
                                             (flymake-diagnostic-beg b)))))
    (let ((server (eglot-current-server)))
      (princ
       (json-encode
        `((server . ,(and server (process-command (jsonrpc--process server))))
          (root . ,(and server (expand-file-name (project-root (eglot--project server)))))
          (diagnostics
           . ,(vconcat
               (mapcar
                (lambda (diagnostic)
                  (let ((beg (flymake-diagnostic-beg diagnostic))
                        (end (flymake-diagnostic-end diagnostic)))
                    `((line . ,(line-number-at-pos beg))
                      (column . ,(save-excursion (goto-char beg) (current-column)))
                      (end-column . ,(save-excursion (goto-char end) (current-column)))
                      (type . ,(symbol-name (flymake-diagnostic-type diagnostic)))
                      (text . ,(flymake-diagnostic-text diagnostic)))))
                diagnostics))))))
      (terpri)
      (when server
        (ignore-errors (eglot-shutdown server))))))

(kill-emacs 0)
;;; eglot_test.el ends here
