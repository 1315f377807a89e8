"""The `polyasr` command: every subcommand's front end (argparse, progress, printing) over the public
API. With its modules, the only code of the package that prints; library errors are printed here as
one line each.

Modules:
    main.py     main, build_parser: transcribe, detect-language, align, evaluate, export, languages,
                convert-lang-ids, lm, and serve, listen, batch, train (their extras loaded on use)
    args.py     argument types (positive_int, output_formats, language_choice, ...), HelpFormatter,
                output folder and file checks made before a model loads
    output.py   Progress bars, warnings, the identified language, results printed or written
    decoder.py  the decoder options of transcribe and evaluate, and `polyasr lm build`
    serve.py    `polyasr serve`: ServerOptions from options, uvicorn
    listen.py   `polyasr listen`: the microphone live through a StreamingSession
    batch.py    `polyasr batch`: a Ray batch job's options from the arguments, its run and summary
    train.py    `polyasr train`: options, progress bars and reports

Used by other folders: main (polyasr.__main__ and the console script).
"""
