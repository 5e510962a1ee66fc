using VectorFit.Transformers.Tests.TestSupport;
using VectorFit.Transformers.Tokenization;

namespace VectorFit.Transformers.Tests.Tokenization;

public sealed class SentencePieceModelTests
{
    [Fact]
    public void Parses_pieces_scores_types_and_normalizer_options()
    {
        byte[] bytes = SpmModelBuilder.WithDebertaSpecials()
            .Add("\u2581hello", -3.25f)
            .Add("<0x41>", 0f, SentencePieceType.Byte)
            .Normalizer(new ProtobufWriter().String(1, "nfkc").Bool(3, false).Bool(4, false).Bool(5, false))
            .Build();

        SentencePieceModel model = SentencePieceModel.Parse(bytes, "m.model");

        model.Pieces.Should().HaveCount(6);
        model.Pieces[1].Should().Be(new SentencePieceEntry("[CLS]", 0f, SentencePieceType.Control));
        model.Pieces[3].Type.Should().Be(SentencePieceType.Unknown);
        model.Pieces[4].Should().Be(new SentencePieceEntry("\u2581hello", -3.25f, SentencePieceType.Normal));
        model.Pieces[5].Type.Should().Be(SentencePieceType.Byte);
        model.Normalizer.Should().Be(new SentencePieceNormalizerSpec("nfkc", AddDummyPrefix: false, RemoveExtraWhitespaces: false, EscapeWhitespaces: false));
        model.ModelType.Should().Be(SentencePieceModel.UnigramModelType);
    }

    [Fact]
    public void Normalizer_defaults_apply_when_the_spec_is_absent()
    {
        SentencePieceModel model = SentencePieceModel.Parse(SpmModelBuilder.WithDebertaSpecials().Build(), "m.model");

        model.Normalizer.Should().Be(new SentencePieceNormalizerSpec("nmt_nfkc", true, true, true));
        model.ByteFallback.Should().BeFalse();
    }

    [Fact]
    public void Skips_fields_it_does_not_use_of_every_wire_type()
    {
        var trainer = new ProtobufWriter()
            .String(1, "corpus.txt")          // input (length-delimited)
            .Varint(4, 128_000)               // vocab_size (varint)
            .Float(10, 0.9995f)               // character_coverage (fixed32)
            .Fixed64(99, 0xDEADBEEF)          // unknown fixed64 field
            .Bool(35, true);                  // byte_fallback
        byte[] bytes = SpmModelBuilder.WithDebertaSpecials()
            .Trainer(trainer)
            .Normalizer(new ProtobufWriter().String(1, "nmt_nfkc").Bytes(6, [1, 2, 3, 4])) // normalization_rule_tsv (unused)
            .Build();
        byte[] withSelfTest = [.. bytes, .. new ProtobufWriter().Message(4, new ProtobufWriter().String(1, "x")).ToArray()];

        SentencePieceModel model = SentencePieceModel.Parse(withSelfTest, "m.model");

        model.Pieces.Should().HaveCount(4);
        model.ByteFallback.Should().BeTrue();
        model.Normalizer.Name.Should().Be("nmt_nfkc");
    }

    [Fact]
    public void Truncated_file_is_reported_as_malformed_with_the_file_name()
    {
        byte[] bytes = SpmModelBuilder.WithDebertaSpecials().Build();

        var act = () => SentencePieceModel.Parse(bytes.AsSpan(0, bytes.Length - 3), "broken/spm.model");

        act.Should().Throw<InvalidDataException>().WithMessage("*broken/spm.model*malformed protobuf*");
    }

    [Fact]
    public void Piece_type_outside_the_enum_is_rejected()
    {
        byte[] bytes = new ProtobufWriter()
            .Message(1, new ProtobufWriter().String(1, "x").Float(2, 0f).Varint(3, 7))
            .ToArray();

        var act = () => SentencePieceModel.Parse(bytes, "m.model");

        act.Should().Throw<InvalidDataException>().WithMessage("*piece 0*\"x\"*type 7*");
    }

    [Fact]
    public void A_file_without_pieces_is_rejected()
    {
        var act = () => SentencePieceModel.Parse(new ProtobufWriter().Message(2, new ProtobufWriter()).ToArray(), "empty.model");

        act.Should().Throw<InvalidDataException>().WithMessage("*empty.model*no pieces*");
    }

    [Fact]
    public void Segmenter_reports_offsets_of_pieces_and_of_merged_unknowns()
    {
        SentencePieceEntry[] pieces =
        [
            new("[UNK]", 0, SentencePieceType.Unknown),
            new("\u2581a", -1f, SentencePieceType.Normal),
        ];
        var segmenter = new UnigramSegmenter(pieces, unkId: 0, byteFallback: false);

        // "▁a" (0..2), then two emoji (4 UTF-16 units) merged into one unknown token.
        segmenter.Segment("\u2581a\U0001F600\U0001F600").Should().Equal(
            new UnigramToken(1, 0, 2),
            new UnigramToken(0, 2, 4));
    }

    [Fact]
    public void Segmenter_reaches_long_pieces_through_prefixes_that_are_not_pieces()
    {
        // "▁ab" and "▁abc" are not pieces, only prefixes of "▁abcd"; the search must walk through them.
        SentencePieceEntry[] pieces =
        [
            new("[UNK]", 0, SentencePieceType.Unknown),
            new("\u2581a", -1f, SentencePieceType.Normal),
            new("\u2581abcd", -0.5f, SentencePieceType.Normal),
            new("b", -3f, SentencePieceType.Normal),
        ];
        var segmenter = new UnigramSegmenter(pieces, unkId: 0, byteFallback: false);

        segmenter.Segment("\u2581abcd").Should().Equal(new UnigramToken(2, 0, 5));
        // "▁abce": "▁abcd" does not match; ▁a + b + [UNK] for "ce" (merged).
        segmenter.Segment("\u2581abce").Select(t => t.Id).Should().Equal(1, 3, 0);
    }
}
