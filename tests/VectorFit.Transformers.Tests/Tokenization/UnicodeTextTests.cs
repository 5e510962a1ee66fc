using System.Text;
using VectorFit.Transformers.Tokenization;

namespace VectorFit.Transformers.Tests.Tokenization;

public sealed class UnicodeTextTests
{
    [Fact]
    public void Ascii_text_passes_even_without_normalization_support()
    {
        UnicodeText.Normalize("plain text", NormalizationForm.FormKC, normalizationAvailable: false).Should().Be("plain text");
    }

    [Fact]
    public void Non_ascii_text_without_normalization_support_fails_with_the_fix()
    {
        var act = () => UnicodeText.Normalize("caf\u00E9", NormalizationForm.FormD, normalizationAvailable: false);

        act.Should().Throw<InvalidOperationException>().WithMessage("*caf\u00E9*FormD*InvariantGlobalization*false*");
    }

    [Fact]
    public void Decomposes_when_normalization_is_available()
    {
        // The test host runs with ICU; NFD splits é into e + U+0301.
        UnicodeText.IsNormalizationAvailable.Should().BeTrue();
        UnicodeText.Normalize("\u00E9", NormalizationForm.FormD).Should().Be("e\u0301");
    }

    [Fact]
    public void Code_points_net_refuses_are_kept_and_the_text_around_them_is_normalized()
    {
        // string.Normalize throws ArgumentException for the whole string on U+FFFE or a lone surrogate (the
        // BERT and SentencePiece tokenizers crashed on such text); the runs between them are normalized instead.
        UnicodeText.Normalize("\u00E9\uFFFE\u00E9\uDC00\u00E9", NormalizationForm.FormD).Should().Be("e\u0301\uFFFEe\u0301\uDC00e\u0301");
        UnicodeText.Normalize("\uD83D\uDE00\u00E9", NormalizationForm.FormD).Should().Be("\uD83D\uDE00e\u0301");
    }
}
