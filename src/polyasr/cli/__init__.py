"""The `polyasr` command: every subcommand's front end (argparse, progress, printing) over the public
API. With its modules, the only code of the package that prints; library errors are printed here as
one line each.

Modules:
    main.py       main, build_parser: the subcommands and their dispatch (serve, listen, batch and
                  train are added only when their extras import; otherwise they name the extra)
    groups.py     the options several commands share, each declared once: model and runtime,
                  long audio (windows, VAD), language and candidates, data source
    args.py       Parser (checks across options, argparse's one-line error), argument types
                  (positive_int, language_choice, language_codes, ...), HelpFormatter, output
                  folder and file checks made before a model loads
    extras.py     which optional parts are installed (from polyasr's metadata): a command whose extra is
                  missing says so before parsing; scripts/bootstrap.sh asks it too
    recognize.py  transcribe, detect-language, align
    evaluate.py   evaluate
    models.py     export, languages, convert-lang-ids
    output.py     Progress bars, warnings, the identified language, results printed or written
    decoder.py    the decoder options of transcribe and evaluate, and `polyasr lm build`
    serve.py      `polyasr serve`: ServerOptions from options, uvicorn
    listen.py     `polyasr listen`: the microphone live through a StreamingSession
    batch.py      `polyasr batch`: a Ray batch job's options from the arguments, its run and summary
    train.py      `polyasr train`: options, progress bars and reports

Used by other folders: main (polyasr.__main__ and the console script).
"""
