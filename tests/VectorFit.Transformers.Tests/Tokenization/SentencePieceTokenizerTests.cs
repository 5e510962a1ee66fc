using VectorFit.Transformers.Tests.TestSupport;
using VectorFit.Transformers.Tokenization;

namespace VectorFit.Transformers.Tests.Tokenization;

public sealed class SentencePieceTokenizerTests
{
    // Fixture vocabulary (id: piece score). Specials as in DeBERTa-v3: [PAD]=0 [CLS]=1 [SEP]=2 [UNK]=3.
    // 4: ▁ -2   5: a -4   6: b -4   7: c -5   8: ▁ab -1   9: ▁a -1.5   10: bc -1.5   11: ▁the -1   12: @@ (user-defined)
    // The lowest normal score is -5, so an unknown character costs -5 - 10 = -15.
    private static SpmModelBuilder Fixture() => SpmModelBuilder.WithDebertaSpecials()
        .Add("\u2581", -2f)
        .Add("a", -4f)
        .Add("b", -4f)
        .Add("c", -5f)
        .Add("\u2581ab", -1f)
        .Add("\u2581a", -1.5f)
        .Add("bc", -1.5f)
        .Add("\u2581the", -1f)
        .Add("@@", 0f, SentencePieceType.UserDefined);

    [Fact]
    public void Viterbi_picks_the_best_total_score_not_the_longest_first_piece()
    {
        // "abc" -> "▁abc". Candidates: ▁ab + c = -1 - 5 = -6; ▁a + bc = -1.5 - 1.5 = -3 (best);
        // ▁ + a + bc = -7.5; ▁a + b + c = -10.5. Greedy longest-match would have taken ▁ab.
        var tokenizer = Fixture().BuildTokenizer();

        tokenizer.Tokenize("abc").Should().Equal("\u2581a", "bc");
        tokenizer.TokenizeToIds("abc").Should().Equal(9, 10);
    }

    [Fact]
    public void Normalizes_whitespace_adds_the_dummy_prefix_and_escapes_spaces()
    {
        var tokenizer = Fixture().BuildTokenizer();

        tokenizer.Normalize("  the   abc  ").Should().Be("\u2581the\u2581abc");
        // ▁the (-1), then ▁a + bc (-3) as above.
        tokenizer.TokenizeToIds("  the   abc  ").Should().Equal(11, 9, 10);
        // The nmt rule turns tab and newline into spaces first.
        tokenizer.TokenizeToIds("the\tabc\n").Should().Equal(11, 9, 10);
    }

    [Fact]
    public void Applies_nfkc_so_fullwidth_letters_match_ascii_pieces()
    {
        // U+FF41..U+FF43 (fullwidth a b c) are NFKC-equivalent to "abc".
        Fixture().BuildTokenizer().TokenizeToIds("\uFF41\uFF42\uFF43").Should().Equal(9, 10);
    }

    [Fact]
    public void Whitespace_only_text_has_no_tokens()
    {
        var tokenizer = Fixture().BuildTokenizer();

        tokenizer.TokenizeToIds("  \t ").Should().BeEmpty();
        tokenizer.TokenizeToIds(string.Empty).Should().BeEmpty();
    }

    [Fact]
    public void Adjacent_unknown_characters_merge_into_one_unknown_token()
    {
        // "▁axyz": ▁a (-1.5) then x, y, z have no piece (-15 each) and merge into one [UNK].
        var tokenizer = Fixture().BuildTokenizer();

        tokenizer.Tokenize("axyz").Should().Equal("\u2581a", "[UNK]");
        // "▁x▁a": ▁ (-2), [UNK] for x (-15), ▁a (-1.5): unknowns separated by known pieces stay separate.
        tokenizer.TokenizeToIds("x a").Should().Equal(4, 3, 9);
        // An emoji is one character (a surrogate pair) and is never split.
        tokenizer.TokenizeToIds("a\U0001F600\U0001F600").Should().Equal(9, 3);
    }

    [Fact]
    public void Unknown_characters_cost_ten_below_the_lowest_score()
    {
        // Pieces ▁ -2, xy -1, yz -0.5, z -5 (lowest); "x" alone has no piece, so it can only be [UNK] at -5 - 10 = -15.
        // "▁xyz": ▁ + xy + z = -8 beats ▁ + [UNK] + yz = -17.5 (without the 10 penalty it would be -7.5 and win).
        var tokenizer = SpmModelBuilder.WithDebertaSpecials()
            .Add("\u2581", -2f)
            .Add("xy", -1f)
            .Add("yz", -0.5f)
            .Add("z", -5f)
            .BuildTokenizer();

        tokenizer.Tokenize("xyz").Should().Equal("\u2581", "xy", "z");
    }

    [Fact]
    public void User_defined_pieces_are_matched_whole()
    {
        // "▁a@@b": ▁a (-1.5) + @@ (user-defined, about -0.1) + b (-4). Without user-defined support "@" is unknown.
        Fixture().BuildTokenizer().TokenizeToIds("a@@b").Should().Equal(9, 12, 6);
    }

    [Fact]
    public void Honours_add_dummy_prefix_false_from_the_normalizer_spec()
    {
        byte[] model = Fixture().Normalizer(new ProtobufWriter().String(1, "nmt_nfkc").Bool(3, false)).Build();
        var tokenizer = new SentencePieceTokenizer(SentencePieceModel.Parse(model, "no-prefix.model"));

        tokenizer.Model.Normalizer.AddDummyPrefix.Should().BeFalse();
        // "abc" without the prefix: a + bc = -5.5 beats a + b + c = -13.
        tokenizer.TokenizeToIds("abc").Should().Equal(5, 10);
    }

    [Fact]
    public void Honours_remove_extra_whitespaces_false_from_the_normalizer_spec()
    {
        byte[] model = Fixture().Normalizer(new ProtobufWriter().Bool(4, false)).Build();
        var tokenizer = new SentencePieceTokenizer(SentencePieceModel.Parse(model, "keep-spaces.model"));

        // " abc" keeps its space: "▁▁abc" -> ▁ (-2) + ▁a (-1.5) + bc (-1.5).
        tokenizer.Normalize(" abc").Should().Be("\u2581\u2581abc");
        tokenizer.TokenizeToIds(" abc").Should().Equal(4, 9, 10);
    }

    [Fact]
    public void Special_tokens_in_the_text_keep_their_ids()
    {
        Fixture().BuildTokenizer().TokenizeToIds("abc[SEP]the").Should().Equal(9, 10, 2, 11);
    }

    [Fact]
    public void Lower_cases_when_the_tokenizer_config_asks_for_it()
    {
        var tokenizer = Fixture().BuildTokenizer(new SentencePieceOptions { LowerCase = true });

        tokenizer.TokenizeToIds("ABC").Should().Equal(9, 10);
    }

    [Fact]
    public void Encodes_a_pair_as_cls_a_sep_b_sep_with_padding()
    {
        EncodedInput encoded = Fixture().BuildTokenizer().Encode("abc", "the", maxLength: 8);

        encoded.InputIds.Should().Equal(1, 9, 10, 2, 11, 2, 0, 0);
        encoded.AttentionMask.Should().Equal(1, 1, 1, 1, 1, 1, 0, 0);
        encoded.TokenTypeIds.Should().Equal(0, 0, 0, 0, 1, 1, 0, 0);
    }

    [Fact]
    public void Truncates_the_longer_segment_of_a_pair_first()
    {
        // First: ▁the ▁the ▁the ▁a bc (5 tokens); second: ▁a bc (2). maxLength 7 leaves 4 segment tokens:
        // the first segment drops 3 tokens to reach 2, the second keeps its 2.
        EncodedInput encoded = Fixture().BuildTokenizer().Encode("the the the abc", "abc", maxLength: 7);

        encoded.InputIds.Should().Equal(1, 11, 11, 2, 9, 10, 2);
        encoded.TruncatedTokens.Should().Be(3);
    }

    [Fact]
    public void Near_ties_are_decided_with_sentencepieces_float_path_scores()
    {
        // sentencepiece's EncodeOptimized stores path scores as float: after "▁", "a", "b" the stored score is
        // float(−0.1f − 0.2f) = −0.3f = −0.300000011920929, not the double −0.300000004470348. Then "c" (−0.5)
        // gives −0.800000011920929, which only ties with "abc" (−0.8f, found first, from an earlier start), so
        // "abc" stays; with double path scores "a b c" (−0.800000004470348) would beat it.
        var tokenizer = new SpmModelBuilder()
            .Add("[PAD]", 0, SentencePieceType.Control)
            .Add("[CLS]", 0, SentencePieceType.Control)
            .Add("[SEP]", 0, SentencePieceType.Control)
            .Add("[UNK]", 0, SentencePieceType.Unknown)
            .Add("\u2581", 0f)
            .Add("a", -0.1f)
            .Add("b", -0.2f)
            .Add("c", -0.5f)
            .Add("abc", -0.8f)
            .BuildTokenizer();

        tokenizer.Tokenize("abc").Should().Equal("\u2581", "abc");
    }

    [Fact]
    public void Special_tokens_are_found_by_their_text_not_their_position()
    {
        var tokenizer = new SpmModelBuilder()
            .Add("[UNK]", 0, SentencePieceType.Unknown)
            .Add("[SEP]", 0, SentencePieceType.Control)
            .Add("[CLS]", 0, SentencePieceType.Control)
            .Add("[PAD]", 0, SentencePieceType.Control)
            .Add("\u2581a", -1f)
            .BuildTokenizer();

        tokenizer.SpecialTokens.Should().Be(new SpecialTokenIds(Cls: 2, Sep: 1, Pad: 3, Unk: 0));
    }

    [Fact]
    public void Unknown_piece_falls_back_to_the_piece_of_type_unknown()
    {
        var tokenizer = new SpmModelBuilder()
            .Add("[PAD]", 0, SentencePieceType.Control)
            .Add("[CLS]", 0, SentencePieceType.Control)
            .Add("[SEP]", 0, SentencePieceType.Control)
            .Add("<unk>", 0, SentencePieceType.Unknown)
            .Add("\u2581a", -1f)
            .BuildTokenizer();

        tokenizer.SpecialTokens.Unk.Should().Be(3);
        tokenizer.TokenizeToIds("q").Should().Equal(3);
    }

    [Fact]
    public void Missing_cls_piece_is_reported_by_name()
    {
        var builder = new SpmModelBuilder()
            .Add("[PAD]", 0, SentencePieceType.Control)
            .Add("[SEP]", 0, SentencePieceType.Control)
            .Add("[UNK]", 0, SentencePieceType.Unknown);

        var act = () => builder.BuildTokenizer();

        act.Should().Throw<InvalidDataException>().WithMessage("*test.model*\"[CLS]\"*cls_token*");
    }

    [Fact]
    public void Byte_fallback_spells_unknown_text_as_utf8_byte_pieces()
    {
        var builder = Fixture();
        int firstByteId = builder.Count;
        for (int b = 0; b < 256; b++)
        {
            builder.Add($"<0x{b:X2}>", 0f, SentencePieceType.Byte);
        }

        var withFallback = new SentencePieceTokenizer(SentencePieceModel.Parse(
            builder.Trainer(new ProtobufWriter().Bool(35, true)).Build(), "bytes.model"));
        var withoutFallback = new SentencePieceTokenizer(SentencePieceModel.Parse(
            builder.Trainer(new ProtobufWriter().Bool(35, false)).Build(), "nobytes.model"));

        // "é" is U+00E9 = UTF-8 C3 A9.
        withFallback.TokenizeToIds("a\u00E9").Should().Equal(9, firstByteId + 0xC3, firstByteId + 0xA9);
        withoutFallback.TokenizeToIds("a\u00E9").Should().Equal(9, 3);
    }

    [Fact]
    public void Rejects_non_unigram_models_with_the_type_found()
    {
        byte[] bpe = Fixture().Trainer(new ProtobufWriter().Varint(3, 2)).Build();

        var act = () => new SentencePieceTokenizer(SentencePieceModel.Parse(bpe, "bpe.model"));

        act.Should().Throw<NotSupportedException>().WithMessage("*bpe.model*type 2*unigram*");
    }

    [Fact]
    public void Rejects_split_by_punct_which_is_not_implemented()
    {
        var config = TokenizerConfig.Parse("""{ "split_by_punct": true }""", "tokenizer_config.json");

        var act = () => SentencePieceOptions.FromConfig(config);

        act.Should().Throw<NotSupportedException>().WithMessage("*split_by_punct*");
    }

    [Fact]
    public void Loads_spm_model_and_tokenizer_config_from_a_checkpoint_folder()
    {
        using var dir = new TempDirectory();
        dir.Write("spm.model", Fixture().Build());
        dir.Write("tokenizer_config.json", """{ "do_lower_case": true, "unk_token": { "content": "[UNK]", "lstrip": false } }""");

        var tokenizer = SentencePieceTokenizer.FromDirectory(dir.Path);

        tokenizer.VocabularySize.Should().Be(13);
        tokenizer.Options.LowerCase.Should().BeTrue();
        tokenizer.TokenizeToIds("THE").Should().Equal(11);
    }
}
