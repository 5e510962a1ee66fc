using VectorFit.Transformers.Tests.TestSupport;
using VectorFit.Transformers.Tokenization;

namespace VectorFit.Transformers.Tests.Tokenization;

public sealed class WordPieceTokenizerTests
{
    // Line i of vocab.txt has id i.
    private static readonly string[] Vocabulary =
    [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",   // 0-4
        "the", "un", "##aff", "##able", "runn",          // 5-9
        "##ing", "run", "##n", ",", ".",                 // 10-14
        "hello", "cafe", "naive", "中", "国",             // 15-19
        "Hello", "café", "a", "##b", "want",             // 20-24
        "##want", "##ed", "wa",                          // 25-27
    ];

    private static WordPieceTokenizer Create(WordPieceOptions? options = null) => new(Vocabulary, options);

    [Fact]
    public void Splits_a_word_into_greedy_longest_pieces_with_continuation_prefix()
    {
        var tokenizer = Create();

        tokenizer.Tokenize("unaffable").Should().Equal("un", "##aff", "##able");
        tokenizer.TokenizeToIds("unaffable").Should().Equal(6, 7, 8);
    }

    [Fact]
    public void Prefers_the_longest_first_piece_even_when_a_shorter_split_exists()
    {
        // "running": "runn" (longest prefix in the vocabulary) + "##ing"; "run" + "##n" + "##ing" is never tried.
        Create().Tokenize("running").Should().Equal("runn", "##ing");
    }

    [Fact]
    public void Lower_cases_strips_accents_and_splits_punctuation_like_bert_uncased()
    {
        // "UNwant\u00E9d,running" -> lower "unwantéd,running" -> NFD + drop Mn -> "unwanted,running"
        // -> split on "," -> "unwanted" "," "running" -> un ##want ##ed , runn ##ing.
        Create().Tokenize("UNwant\u00E9d,running").Should().Equal("un", "##want", "##ed", ",", "runn", "##ing");
    }

    [Fact]
    public void Splits_off_ascii_symbols_and_unicode_punctuation_as_single_tokens()
    {
        // "$" (an ASCII symbol, category Sc) and "—" (EM DASH, category Pd) count as punctuation; neither is in the
        // vocabulary, so each becomes its own [UNK] instead of spoiling the neighbouring words.
        Create().Tokenize("the.hello$run\u2014the").Should().Equal("the", ".", "hello", "[UNK]", "run", "[UNK]", "the");
    }

    [Fact]
    public void Strips_accents_of_precomposed_letters()
    {
        Create().Tokenize("Café NAÏVE").Should().Equal("cafe", "naive");
    }

    [Fact]
    public void Keeps_case_and_accents_when_not_lower_casing()
    {
        // do_lower_case=false and strip_accents unset: accents are kept too.
        var tokenizer = Create(new WordPieceOptions { LowerCase = false });

        tokenizer.Tokenize("Hello café").Should().Equal("Hello", "café");
        tokenizer.Tokenize("hello Cafe").Should().Equal("hello", "[UNK]");
    }

    [Fact]
    public void Keeps_accents_when_strip_accents_is_false()
    {
        Create(new WordPieceOptions { StripAccents = false }).Tokenize("CAFÉ").Should().Equal("café");
    }

    [Fact]
    public void Splits_around_cjk_ideographs_unless_disabled()
    {
        Create().Tokenize("中国").Should().Equal("中", "国");

        // Without the CJK split "中国" is one word: "中" matches, "##国" does not, so the word is unknown.
        Create(new WordPieceOptions { TokenizeChineseChars = false }).Tokenize("中国").Should().Equal("[UNK]");
    }

    [Fact]
    public void A_word_with_an_unmatched_part_becomes_a_single_unknown_token()
    {
        // "runx": "run" matches but "##x" does not -> the whole word is [UNK], not "run [UNK]".
        Create().Tokenize("the runx .").Should().Equal("the", "[UNK]", ".");
    }

    [Fact]
    public void Words_longer_than_100_characters_are_unknown()
    {
        string hundred = "a" + new string('b', 99);
        string hundredAndOne = "a" + new string('b', 100);

        var tokenizer = Create();

        tokenizer.TokenizeToIds(hundred).Should().HaveCount(100).And.StartWith(22).And.EndWith(23);
        tokenizer.Tokenize(hundredAndOne).Should().Equal("[UNK]");
    }

    [Fact]
    public void Removes_control_characters_and_splits_on_any_whitespace()
    {
        // NUL and ZERO WIDTH SPACE (category Cf) are dropped; tab, newline and NO-BREAK SPACE separate words.
        Create().Tokenize("the\u0000\tthe\u200b\nhello\u00A0the").Should().Equal("the", "the", "hello", "the");
    }

    [Fact]
    public void Special_tokens_written_in_the_text_keep_their_id()
    {
        // Without the special-token split "[SEP]" would be lower-cased and split into "[", "sep", "]".
        Create().TokenizeToIds("hello [SEP]the").Should().Equal(15, 3, 5);
    }

    [Fact]
    public void Encodes_a_pair_with_cls_sep_masks_and_token_types()
    {
        EncodedInput encoded = Create().Encode("hello, the", "running", maxLength: 10);

        // [CLS] hello , the [SEP] runn ##ing [SEP] [PAD] [PAD]
        encoded.InputIds.Should().Equal(2, 15, 13, 5, 3, 9, 10, 3, 0, 0);
        encoded.AttentionMask.Should().Equal(1, 1, 1, 1, 1, 1, 1, 1, 0, 0);
        encoded.TokenTypeIds.Should().Equal(0, 0, 0, 0, 0, 1, 1, 1, 0, 0);
        encoded.TokenCount.Should().Be(8);
        encoded.TruncatedTokens.Should().Be(0);
    }

    [Fact]
    public void Loads_vocabulary_and_tokenizer_config_from_a_checkpoint_folder()
    {
        using var dir = new TempDirectory();
        dir.Write("vocab.txt", string.Join('\n', Vocabulary) + "\n");
        dir.Write("tokenizer_config.json", """{ "do_lower_case": false, "tokenizer_class": "BertTokenizer" }""");

        var tokenizer = WordPieceTokenizer.FromDirectory(dir.Path);

        tokenizer.VocabularySize.Should().Be(Vocabulary.Length);
        tokenizer.Options.LowerCase.Should().BeFalse();
        tokenizer.Tokenize("Hello").Should().Equal("Hello");
        tokenizer.SpecialTokens.Should().Be(new SpecialTokenIds(Cls: 2, Sep: 3, Pad: 0, Unk: 1));
    }

    [Fact]
    public void Missing_special_token_is_reported_with_its_name_and_the_config_key()
    {
        string[] noCls = [.. Vocabulary.Where(t => t != "[CLS]")];

        var act = () => new WordPieceTokenizer(noCls, source: "ckpt/vocab.txt");

        act.Should().Throw<InvalidDataException>()
            .WithMessage("*ckpt/vocab.txt*\"[CLS]\"*cls_token*tokenizer_config.json*");
    }

    [Fact]
    public void A_duplicated_vocabulary_line_maps_to_its_last_id_as_in_hugging_face()
    {
        string[] duplicated = [.. Vocabulary, "the"]; // "the" is also line 5

        new WordPieceTokenizer(duplicated).TokenizeToIds("the").Should().Equal(Vocabulary.Length);
    }

    [Fact]
    public void Missing_vocabulary_file_names_the_path()
    {
        var act = () => WordPieceTokenizer.FromFiles("/nonexistent/vocab.txt");

        act.Should().Throw<FileNotFoundException>().WithMessage("*/nonexistent/vocab.txt*");
    }
}
