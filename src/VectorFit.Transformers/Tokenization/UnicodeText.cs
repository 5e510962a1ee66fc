using System.Text;

namespace VectorFit.Transformers.Tokenization;

/// <summary>
/// Unicode normalization that refuses to be silently wrong: in globalization-invariant mode
/// (<c>InvariantGlobalization=true</c>) .NET returns text unnormalized, which would change tokenization of
/// any non-ASCII text. ASCII text is the same under every normalization form and is always accepted.
/// </summary>
internal static class UnicodeText
{
    /// <summary>Whether this process can normalize (false in globalization-invariant mode).</summary>
    public static bool IsNormalizationAvailable { get; } = ProbeNormalization();

    /// <summary>Normalizes <paramref name="text"/> to <paramref name="form"/>.</summary>
    /// <param name="text">Text to normalize.</param>
    /// <param name="form">Normalization form (NFC, NFD, NFKC, NFKD).</param>
    /// <returns>The normalized text.</returns>
    /// <exception cref="InvalidOperationException">The text is not ASCII and this process cannot normalize.</exception>
    public static string Normalize(string text, NormalizationForm form) => Normalize(text, form, IsNormalizationAvailable);

    /// <summary>Normalizes <paramref name="text"/>, with the availability of normalization given (for tests).</summary>
    /// <param name="text">Text to normalize.</param>
    /// <param name="form">Normalization form.</param>
    /// <param name="normalizationAvailable">Whether <see cref="string.Normalize(NormalizationForm)"/> works here.</param>
    /// <returns>The normalized text.</returns>
    internal static string Normalize(string text, NormalizationForm form, bool normalizationAvailable)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (Ascii.IsValid(text))
        {
            return text;
        }

        if (!normalizationAvailable)
        {
            string sample = text.Length <= 40 ? text : string.Concat(text.AsSpan(0, 40), "…");
            throw new InvalidOperationException(
                $"Text \"{sample}\" contains non-ASCII characters that need Unicode {form} normalization, but this "
                + "process runs in globalization-invariant mode (InvariantGlobalization=true), where .NET does not "
                + "normalize text. Fix: set <InvariantGlobalization>false</InvariantGlobalization> in the project "
                + "(ICU, e.g. the libicu package, must be installed) or unset DOTNET_SYSTEM_GLOBALIZATION_INVARIANT.");
        }

        try
        {
            return text.Normalize(form);
        }
        catch (ArgumentException)
        {
            // .NET refuses the whole string when one code point is invalid to it (a lone surrogate, U+FFFE);
            // normalize the runs between such code points and keep those as they are, as sentencepiece does.
            return NormalizeAroundInvalid(text, form);
        }
    }

    private static string NormalizeAroundInvalid(string text, NormalizationForm form)
    {
        var result = new StringBuilder(text.Length);
        int runStart = 0;
        for (int i = 0; i < text.Length;)
        {
            int length = char.IsSurrogatePair(text, i) ? 2 : 1;
            if (!IsNormalizable(text.Substring(i, length), form))
            {
                result.Append(text.AsSpan(runStart, i - runStart).ToString().Normalize(form));
                result.Append(text, i, length);
                runStart = i + length;
            }

            i += length;
        }

        result.Append(text.AsSpan(runStart).ToString().Normalize(form));
        return result.ToString();
    }

    private static bool IsNormalizable(string codePoint, NormalizationForm form)
    {
        try
        {
            _ = codePoint.Normalize(form);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static bool ProbeNormalization() =>
        "\u00C5".Normalize(NormalizationForm.FormD).Length == 2;
}
