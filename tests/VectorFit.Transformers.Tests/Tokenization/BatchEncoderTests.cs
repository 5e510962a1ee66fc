using VectorFit.Transformers.Tokenization;

namespace VectorFit.Transformers.Tests.Tokenization;

public sealed class BatchEncoderTests
{
    private static readonly WordPieceTokenizer Tokenizer = new(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "good", "bad", "movie"]);

    [Fact]
    public void Stacks_rows_into_flat_row_major_arrays_padded_to_max_length()
    {
        EncodedBatch batch = Tokenizer.EncodeBatch([("good movie", null), ("bad", "movie")], maxLength: 6);

        batch.Shape.Should().Equal(2, 6);
        batch.InputIds.Should().Equal(
            2, 4, 6, 3, 0, 0,
            2, 5, 3, 6, 3, 0);
        batch.AttentionMask.Should().Equal(
            1, 1, 1, 1, 0, 0,
            1, 1, 1, 1, 1, 0);
        batch.TokenTypeIds.Should().Equal(
            0, 0, 0, 0, 0, 0,
            0, 0, 0, 1, 1, 0);
        batch.TruncatedExamples.Should().Be(0);
    }

    [Fact]
    public void Pads_only_to_the_longest_row_when_asked()
    {
        EncodedBatch batch = Tokenizer.EncodeBatch([("good", null), ("bad movie good", null)], maxLength: 32, padToLongest: true);

        batch.SequenceLength.Should().Be(5);
        batch.InputIds.Should().Equal(
            2, 4, 3, 0, 0,
            2, 5, 6, 4, 3);
    }

    [Fact]
    public void Counts_truncated_examples()
    {
        EncodedBatch batch = Tokenizer.EncodeBatch([("good good good good", null), ("bad", null)], maxLength: 4);

        batch.TruncatedExamples.Should().Be(1);
        batch.InputIds.Should().Equal(2, 4, 4, 3, 2, 5, 3, 0);
    }

    [Fact]
    public void Empty_batch_is_rejected()
    {
        var act = () => Tokenizer.EncodeBatch([], maxLength: 8);

        act.Should().Throw<ArgumentException>().WithMessage("*empty batch*");
    }
}
