using GlueFineTune.Tokenization;

namespace GlueFineTune.Tests.Tokenization;

/// <summary>nmt_nfkc as sentencepiece builds it (Builder::BuildNmtNFKCMap): NFKC plus a fixed list of code points that become spaces.</summary>
public sealed class SentencePieceNormalizerTests
{
    private static readonly SentencePieceNormalizer Nmt = new(new SentencePieceNormalizerSpec());

    [Fact]
    public void C1_control_characters_of_garbled_windows_1252_text_are_kept()
    {
        // sentencepiece keeps U+0080–U+009F (NFKC leaves them alone and nmt_nfkc does not list them); U+0085 is not a space there.
        Nmt.Normalize("don\u0092t\u0085stop \u0093here\u0094").Should().Be("▁don\u0092t\u0085stop▁\u0093here\u0094");
    }

    [Theory]
    [InlineData("a\tb", "▁a▁b")]
    [InlineData("a\u200Bb", "▁a▁b")]
    [InlineData("a\uFEFFb", "▁a▁b")]
    [InlineData("a\uFFFDb", "▁a▁b")]
    [InlineData("a\u2581b", "▁a▁b")]
    [InlineData("a\u000Bb", "▁a\u000Bb")]
    [InlineData("a\u0001b", "▁a\u0001b")]
    [InlineData("a\u00A0b", "▁a▁b")]
    public void Only_the_listed_code_points_and_NFKC_spaces_become_spaces(string text, string expected)
    {
        Nmt.Normalize(text).Should().Be(expected);
    }
}
