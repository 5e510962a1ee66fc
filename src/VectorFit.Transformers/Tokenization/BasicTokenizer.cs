using System.Globalization;
using System.Text;

namespace VectorFit.Transformers.Tokenization;

/// <summary>
/// BERT's basic tokenizer: cleans text (drops NUL, U+FFFD and control characters, maps whitespace to
/// spaces), puts spaces around CJK ideographs, applies NFC, splits on whitespace, lower-cases and strips
/// accents (NFD, then removal of non-spacing marks) as configured, and splits off punctuation.
/// </summary>
internal sealed class BasicTokenizer
{
    private readonly bool _lowerCase;
    private readonly bool _stripAccents;
    private readonly bool _tokenizeChineseChars;

    /// <summary>Creates a basic tokenizer.</summary>
    /// <param name="lowerCase">Lower-case every word (<c>do_lower_case</c>).</param>
    /// <param name="stripAccents"><c>strip_accents</c>: <see langword="null"/> strips exactly when lower-casing.</param>
    /// <param name="tokenizeChineseChars">Split around CJK ideographs (<c>tokenize_chinese_chars</c>).</param>
    public BasicTokenizer(bool lowerCase, bool? stripAccents, bool tokenizeChineseChars)
    {
        _lowerCase = lowerCase;
        _stripAccents = stripAccents ?? lowerCase;
        _tokenizeChineseChars = tokenizeChineseChars;
    }

    /// <summary>Splits <paramref name="text"/> into words and punctuation marks.</summary>
    /// <param name="text">Raw text (without special tokens).</param>
    /// <returns>The basic tokens.</returns>
    public List<string> Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string cleaned = Clean(text);
        string normalized = UnicodeText.Normalize(cleaned, NormalizationForm.FormC);
        var output = new List<string>();
        foreach (string word in normalized.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            string token = word;
            if (_lowerCase)
            {
                token = LowerCase(token);
            }

            if (_stripAccents)
            {
                token = StripAccents(token);
            }

            SplitOnPunctuation(token, output);
        }

        return output;
    }

    /// <summary>
    /// Lower-cases as Python's <c>str.lower</c> and Rust's <c>char::to_lowercase</c> do: the invariant simple mapping,
    /// plus Unicode's one unconditional multi-character mapping, U+0130 (İ) → "i" + U+0307 (combining dot above),
    /// which .NET's invariant culture leaves unchanged (so "İstanbul" would become [UNK]; with accent stripping
    /// Hugging Face gives "istanbul").
    /// </summary>
    /// <param name="text">A word.</param>
    /// <returns>The lower-cased word.</returns>
    public static string LowerCase(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string lower = text.ToLowerInvariant();
        return lower.Contains('\u0130', StringComparison.Ordinal) ? lower.Replace("\u0130", "i\u0307", StringComparison.Ordinal) : lower;
    }

    /// <summary>Whether BERT treats <paramref name="rune"/> as punctuation (ASCII symbols count too).</summary>
    /// <param name="rune">A code point.</param>
    /// <returns><see langword="true"/> for punctuation.</returns>
    public static bool IsPunctuation(Rune rune)
    {
        int cp = rune.Value;
        if (cp is (>= 33 and <= 47) or (>= 58 and <= 64) or (>= 91 and <= 96) or (>= 123 and <= 126))
        {
            return true;
        }

        return Rune.GetUnicodeCategory(rune) is UnicodeCategory.ConnectorPunctuation
            or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation
            or UnicodeCategory.ClosePunctuation
            or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation
            or UnicodeCategory.OtherPunctuation;
    }

    /// <summary>Whether <paramref name="rune"/> is a CJK ideograph in the blocks BERT splits around.</summary>
    /// <param name="rune">A code point.</param>
    /// <returns><see langword="true"/> for CJK ideographs.</returns>
    public static bool IsCjkIdeograph(Rune rune) => rune.Value is
        (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF)
        or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B820 and <= 0x2CEAF)
        or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);

    /// <summary>Whether BERT treats <paramref name="rune"/> as whitespace (space, tab, CR, LF, or category Zs).</summary>
    /// <param name="rune">A code point.</param>
    /// <returns><see langword="true"/> for whitespace.</returns>
    public static bool IsWhitespace(Rune rune) =>
        rune.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(rune) == UnicodeCategory.SpaceSeparator;

    /// <summary>Whether BERT drops <paramref name="rune"/> as a control character (any category C except tab, CR, LF).</summary>
    /// <param name="rune">A code point.</param>
    /// <returns><see langword="true"/> for control characters.</returns>
    public static bool IsControl(Rune rune)
    {
        if (rune.Value is '\t' or '\n' or '\r')
        {
            return false;
        }

        return Rune.GetUnicodeCategory(rune) is UnicodeCategory.Control
            or UnicodeCategory.Format
            or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse
            or UnicodeCategory.OtherNotAssigned;
    }

    private string Clean(string text)
    {
        var builder = new StringBuilder(text.Length + 8);
        foreach (Rune rune in text.EnumerateRunes())
        {
            if (rune.Value is 0 or 0xFFFD || IsControl(rune))
            {
                continue;
            }

            // Line and paragraph separators are not BERT whitespace but Python's str.split() splits on them.
            if (IsWhitespace(rune)
                || Rune.GetUnicodeCategory(rune) is UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator)
            {
                builder.Append(' ');
            }
            else if (_tokenizeChineseChars && IsCjkIdeograph(rune))
            {
                builder.Append(' ').Append(rune).Append(' ');
            }
            else
            {
                builder.Append(rune);
            }
        }

        return builder.ToString();
    }

    private static string StripAccents(string token)
    {
        if (Ascii.IsValid(token))
        {
            return token;
        }

        string decomposed = UnicodeText.Normalize(token, NormalizationForm.FormD);
        var builder = new StringBuilder(decomposed.Length);
        foreach (Rune rune in decomposed.EnumerateRunes())
        {
            if (Rune.GetUnicodeCategory(rune) != UnicodeCategory.NonSpacingMark)
            {
                builder.Append(rune);
            }
        }

        return builder.ToString();
    }

    private static void SplitOnPunctuation(string token, List<string> output)
    {
        int wordStart = -1;
        int index = 0;
        foreach (Rune rune in token.EnumerateRunes())
        {
            if (IsPunctuation(rune))
            {
                if (wordStart >= 0)
                {
                    output.Add(token[wordStart..index]);
                    wordStart = -1;
                }

                output.Add(rune.ToString());
            }
            else if (wordStart < 0)
            {
                wordStart = index;
            }

            index += rune.Utf16SequenceLength;
        }

        if (wordStart >= 0)
        {
            output.Add(token[wordStart..]);
        }
    }
}
