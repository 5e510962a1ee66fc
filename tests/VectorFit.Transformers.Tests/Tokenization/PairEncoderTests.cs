using VectorFit.Transformers.Tokenization;

namespace VectorFit.Transformers.Tests.Tokenization;

public sealed class PairEncoderTests
{
    private static readonly SpecialTokenIds Specials = new(Cls: 101, Sep: 102, Pad: 0, Unk: 100);

    [Fact]
    public void Single_segment_is_wrapped_and_padded()
    {
        EncodedInput encoded = PairEncoder.Encode([7, 8, 9], null, maxLength: 7, Specials);

        encoded.InputIds.Should().Equal(101, 7, 8, 9, 102, 0, 0);
        encoded.AttentionMask.Should().Equal(1, 1, 1, 1, 1, 0, 0);
        encoded.TokenTypeIds.Should().Equal(0, 0, 0, 0, 0, 0, 0);
        encoded.TokenCount.Should().Be(5);
    }

    [Fact]
    public void Single_segment_loses_its_tail_when_too_long()
    {
        EncodedInput encoded = PairEncoder.Encode([1, 2, 3, 4, 5], null, maxLength: 5, Specials);

        encoded.InputIds.Should().Equal(101, 1, 2, 3, 102);
        encoded.TruncatedTokens.Should().Be(2);
    }

    [Fact]
    public void Pair_truncation_shortens_the_longer_segment_first()
    {
        // 7 + 4 tokens, maxLength 11 -> 8 segment tokens: the first segment loses 3 and ties the second at 4.
        EncodedInput encoded = PairEncoder.Encode([1, 2, 3, 4, 5, 6, 7], [21, 22, 23, 24], maxLength: 11, Specials);

        encoded.InputIds.Should().Equal(101, 1, 2, 3, 4, 102, 21, 22, 23, 24, 102);
        encoded.TokenTypeIds.Should().Equal(0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1);
        encoded.AttentionMask.Should().AllBeEquivalentTo(1);
        encoded.TruncatedTokens.Should().Be(3);
    }

    [Fact]
    public void Pair_truncation_takes_from_the_second_segment_on_ties()
    {
        // 5 + 5 tokens, 7 segment tokens: second -> 4, first -> 4, second -> 3.
        PairEncoder.TruncateLongestFirst(5, 5, 7).Should().Be((4, 3));
        // 2 + 9 tokens, 6 segment tokens: only the second (longer) segment is cut.
        PairEncoder.TruncateLongestFirst(2, 9, 6).Should().Be((2, 4));
        // Fits: nothing removed.
        PairEncoder.TruncateLongestFirst(3, 2, 5).Should().Be((3, 2));
    }

    [Fact]
    public void Closed_form_truncation_matches_the_token_by_token_definition()
    {
        for (int a = 0; a <= 12; a++)
        {
            for (int b = 0; b <= 12; b++)
            {
                for (int budget = 0; budget <= 25; budget++)
                {
                    // Hugging Face's longest_first: remove one token at a time from the longer segment (second on ties).
                    int x = a, y = b;
                    while (x + y > budget)
                    {
                        if (x > y)
                        {
                            x--;
                        }
                        else
                        {
                            y--;
                        }
                    }

                    PairEncoder.TruncateLongestFirst(a, b, budget).Should().Be((x, y), $"a={a}, b={b}, budget={budget}");
                }
            }
        }
    }

    [Fact]
    public void Pair_with_empty_second_segment_still_has_two_separators()
    {
        EncodedInput encoded = PairEncoder.Encode([5], [], maxLength: 5, Specials);

        encoded.InputIds.Should().Equal(101, 5, 102, 102, 0);
        encoded.TokenTypeIds.Should().Equal(0, 0, 0, 1, 0);
    }

    [Fact]
    public void Without_padding_the_arrays_end_at_the_last_token_and_pad_extends_them()
    {
        EncodedInput unpadded = PairEncoder.Encode([5, 6], [7], maxLength: 10, Specials, padToMaxLength: false);
        unpadded.InputIds.Should().Equal(101, 5, 6, 102, 7, 102);

        EncodedInput padded = PairEncoder.Pad(unpadded, 8, padId: 0);
        padded.InputIds.Should().Equal(101, 5, 6, 102, 7, 102, 0, 0);
        padded.AttentionMask.Should().Equal(1, 1, 1, 1, 1, 1, 0, 0);
        padded.TokenTypeIds.Should().Equal(0, 0, 0, 0, 1, 1, 0, 0);
    }

    [Fact]
    public void Max_length_too_small_for_the_special_tokens_is_rejected_with_the_minimum()
    {
        var act = () => PairEncoder.Encode([1], [2], maxLength: 2, Specials);

        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*maxLength 2*3 special tokens*at least 4*");
    }
}
