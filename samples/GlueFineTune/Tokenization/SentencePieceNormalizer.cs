using System.Globalization;
using System.Text;

namespace GlueFineTune.Tokenization;

/// <summary>
/// SentencePiece text normalization: Unicode NFKC (for the <c>nfkc</c> and <c>nmt_nfkc</c> rules; the
/// <c>_cf</c> variants also lower-case), the <c>nmt</c> clean-up (sentencepiece's list of whitespace-like code
/// points become spaces; control characters stay, as in sentencepiece), trimming and collapsing of spaces, the dummy prefix space, and
/// escaping of spaces as U+2581 "▁".
/// </summary>
/// <remarks>
/// The model's <c>precompiled_charsmap</c> is not interpreted; .NET's NFKC plus the <c>nmt</c> clean-up stands
/// in for it, which agrees with it on ordinary text (they differ on a few rare code points).
/// </remarks>
internal sealed class SentencePieceNormalizer
{
    /// <summary>The character SentencePiece writes for a space: U+2581 LOWER ONE EIGHTH BLOCK.</summary>
    public const char SpaceSymbol = '\u2581';

    private readonly SentencePieceNormalizerSpec _spec;
    private readonly bool _whitespaceAsSuffix;
    private readonly bool _nfkc;
    private readonly bool _caseFold;
    private readonly bool _nmt;

    /// <summary>Creates a normalizer.</summary>
    /// <param name="spec">The model's normalizer options.</param>
    /// <param name="whitespaceAsSuffix">Put the dummy space after the text instead of before it.</param>
    public SentencePieceNormalizer(SentencePieceNormalizerSpec spec, bool whitespaceAsSuffix = false)
    {
        ArgumentNullException.ThrowIfNull(spec);
        _spec = spec;
        _whitespaceAsSuffix = whitespaceAsSuffix;
        string name = spec.Name;
        _nfkc = name.Contains("nfkc", StringComparison.OrdinalIgnoreCase);
        _caseFold = name.EndsWith("_cf", StringComparison.OrdinalIgnoreCase);
        _nmt = name.StartsWith("nmt", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The code points nmt_nfkc maps to a space on top of NFKC (sentencepiece's <c>Builder::BuildNmtNFKCMap</c>): tab,
    /// line feed, form feed, carriage return, U+1680, U+200B, U+200E, U+200F, U+2028, U+2029, U+2581, U+FEFF and
    /// U+FFFD. Every other character NFKC leaves alone stays, control characters included (C0 and C1, e.g. the
    /// U+0085 and U+0093 of garbled Windows-1252 text), as sentencepiece keeps them.
    /// </summary>
    /// <param name="codePoint">A code point after NFKC.</param>
    /// <returns>Whether nmt_nfkc turns it into a space.</returns>
    public static bool IsNmtWhitespace(int codePoint) => codePoint is 0x9 or 0xA or 0xC or 0xD or 0x1680 or 0x200B or 0x200E or 0x200F
        or 0x2028 or 0x2029 or 0x2581 or 0xFEFF or 0xFFFD;

    /// <summary>Normalizes <paramref name="text"/> into the string the unigram model segments.</summary>
    /// <param name="text">Raw text.</param>
    /// <returns>The normalized text; empty when <paramref name="text"/> holds only whitespace.</returns>
    public string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string unified = _nfkc ? UnicodeText.Normalize(text, NormalizationForm.FormKC) : text;
        if (_caseFold)
        {
            unified = unified.ToLowerInvariant();
        }

        var builder = new StringBuilder(unified.Length + 2);
        bool previousSpace = _spec.RemoveExtraWhitespaces; // drops leading spaces
        foreach (Rune rune in unified.EnumerateRunes())
        {
            Rune current = rune;
            if (_nmt && IsNmtWhitespace(rune.Value))
            {
                current = new Rune(' ');
            }

            bool isSpace = current.Value == ' ';
            if (isSpace && previousSpace && _spec.RemoveExtraWhitespaces)
            {
                continue;
            }

            builder.Append(current);
            previousSpace = isSpace;
        }

        if (_spec.RemoveExtraWhitespaces)
        {
            while (builder.Length > 0 && builder[^1] == ' ')
            {
                builder.Length--;
            }
        }

        if (builder.Length == 0)
        {
            return string.Empty;
        }

        if (_spec.AddDummyPrefix)
        {
            if (_whitespaceAsSuffix)
            {
                builder.Append(' ');
            }
            else
            {
                builder.Insert(0, ' ');
            }
        }

        if (_spec.EscapeWhitespaces)
        {
            builder.Replace(' ', SpaceSymbol);
        }

        return builder.ToString();
    }
}
