using VectorFit.Transformers.Tokenization;

namespace VectorFit.Transformers.Tests.Tokenization;

/// <summary>
/// The fallback for a model without a precompiled_charsmap: nmt_nfkc as sentencepiece builds it (Builder::BuildNmtNFKCMap):
/// NFKC plus a fixed list of code points that become spaces and of control characters that are deleted.
/// </summary>
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
    [InlineData("a\u200Cb", "▁a▁b")]
    [InlineData("a\u000Bb", "▁ab")]
    [InlineData("a\u0001b", "▁ab")]
    [InlineData("a\u007Fb", "▁ab")]
    [InlineData("a\u008Fb", "▁ab")]
    [InlineData("a\u009Fb", "▁ab")]
    [InlineData("a\u200Db", "▁a\u200Db")]
    [InlineData("a\u00A0b", "▁a▁b")]
    public void Only_the_listed_code_points_and_NFKC_spaces_become_spaces_and_the_listed_controls_go(string text, string expected)
    {
        Nmt.Normalize(text).Should().Be(expected);
    }

    [Fact]
    public void Fullwidth_tilde_is_kept_while_the_text_around_it_gets_nfkc()
    {
        // Builder::MergeNmtMap erases U+FF5E from the NFKC map (Japanese uses it apart from "~").
        Nmt.Normalize("\uFF41\uFF5E\uFF42 ~").Should().Be("▁a\uFF5Eb▁~");
    }

    [Fact]
    public void Code_points_net_cannot_normalize_pass_through_instead_of_throwing()
    {
        // .NET's string.Normalize throws on U+FFFE and on lone surrogates; sentencepiece keeps U+FFFE and reads a lone
        // surrogate (invalid UTF-16, so U+FFFD in UTF-8) as U+FFFD, which nmt_nfkc makes a space.
        Nmt.Normalize("\uFF41\uFFFE\uFF42").Should().Be("▁a\uFFFEb");
        Nmt.Normalize("\uFF41\uD800\uFF42").Should().Be("▁a▁b");
    }
}
