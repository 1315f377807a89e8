"""Languages as the user names them and as the model spells them, and the per-language text
normaliser used for scoring, language models and training targets.

Modules:
    catalogue.py          the model's languages (codes, English names, scripts, aliases; pure data),
                          normalize_code, language_name, is_unspaced (scripts written without spaces)
    choice.py             LanguageChoice (auto, detect, or a language), parsed once at the entry points
    codes.py              match_code, english_name: ISO 639-1/639-3 and polyasr codes matched to a
                          model's own codes (langcodes; MMS adapters)
    exemplars.py          exemplar_characters: a language's letters from CLDR (through ICU), which
                          restrict models without a language table; has_exemplars
    table.py              LanguageTable: which token ids spell each language, read from lang_ids.json
                          or lang_ids.pk (a restricted unpickler): read_language_table,
                          write_language_table_json
    normalize.py          the normaliser's steps: normalize_text, tokens_for_wer, text_for_wer, STEPS
    normalizer_rules.py   NormalizerRules, rules_for (tables merged for a language), has_special_rules,
                          is_character_level, normalizer_fingerprint, rules_table
    normalizer_tables.py  the rule tables, pure data: UNIVERSAL_RULES, SCRIPT_DEFAULTS, LANGUAGE_RULES
    numbers.py            numbers as spoken (num2words): number_readings (a written token's spoken
                          forms, usual first), verbalize_text, number_language, NUMBER_FALLBACKS

Used by other folders: LanguageChoice, AUTO, DETECT; language_name, normalize_code, is_unspaced;
match_code, english_name; LanguageTable, read_language_table, write_language_table_json;
normalize_text; is_character_level, rules_for, normalizer_fingerprint; number_readings, verbalize_text.
"""
