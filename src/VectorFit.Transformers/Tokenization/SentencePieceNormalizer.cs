using System.Globalization;
using System.Text;

namespace VectorFit.Transformers.Tokenization;

/// <summary>
/// SentencePiece text normalization: Unicode NFKC (for the <c>nfkc</c> and <c>nmt_nfkc</c> rules; the
/// <c>_cf</c> variants also lower-case), the <c>nmt</c> clean-up (sentencepiece's list of whitespace-like code
/// points become spaces, its list of control characters is deleted), trimming and collapsing of spaces, the dummy prefix space, and
/// escaping of spaces as U+2581 "▁".
/// </summary>
/// <remarks>
/// When the model carries a <c>precompiled_charsmap</c> (real models do), that map is applied exactly as
/// sentencepiece's <c>Normalizer</c> applies it, user-defined pieces passing through unchanged; only a model
/// without one falls back to .NET's NFKC plus the <c>nmt</c> whitespace list, which approximates it.
/// </remarks>
internal sealed class SentencePieceNormalizer
{
    /// <summary>The character SentencePiece writes for a space: U+2581 LOWER ONE EIGHTH BLOCK.</summary>
    public const char SpaceSymbol = '\u2581';

    private const char FullwidthTilde = '\uFF5E';

    private readonly SentencePieceNormalizerSpec _spec;
    private readonly bool _whitespaceAsSuffix;
    private readonly bool _nfkc;
    private readonly bool _caseFold;
    private readonly bool _nmt;
    private readonly Dictionary<byte, byte[][]> _userDefined;

    /// <summary>Creates a normalizer.</summary>
    /// <param name="spec">The model's normalizer options.</param>
    /// <param name="whitespaceAsSuffix">Put the dummy space after the text instead of before it.</param>
    /// <param name="userDefinedPieces">The model's user-defined pieces, which the precompiled map leaves as written.</param>
    public SentencePieceNormalizer(SentencePieceNormalizerSpec spec, bool whitespaceAsSuffix = false, IEnumerable<string>? userDefinedPieces = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        _spec = spec;
        _userDefined = (userDefinedPieces ?? [])
            .Where(p => p.Length > 0)
            .Select(Encoding.UTF8.GetBytes)
            .GroupBy(b => b[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(b => b.Length).ToArray());
        _whitespaceAsSuffix = whitespaceAsSuffix;
        string name = spec.Name;
        _nfkc = name.Contains("nfkc", StringComparison.OrdinalIgnoreCase);
        _caseFold = name.EndsWith("_cf", StringComparison.OrdinalIgnoreCase);
        _nmt = name.StartsWith("nmt", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The code points nmt_nfkc maps to a space on top of NFKC (sentencepiece's <c>Builder::MergeNmtMap</c>): tab,
    /// line feed, form feed, carriage return, U+1680, U+200B, U+200C, U+200E, U+200F, U+2028, U+2029, U+2581, U+FEFF
    /// and U+FFFD.
    /// </summary>
    /// <param name="codePoint">A code point after NFKC.</param>
    /// <returns>Whether nmt_nfkc turns it into a space.</returns>
    public static bool IsNmtWhitespace(int codePoint) => codePoint is 0x9 or 0xA or 0xC or 0xD or 0x1680 or 0x200B or 0x200C or 0x200E
        or 0x200F or 0x2028 or 0x2029 or 0x2581 or 0xFEFF or 0xFFFD;

    /// <summary>
    /// The control characters nmt_nfkc deletes (<c>Builder::MergeNmtMap</c>): U+0001–U+0008, U+000B, U+000E–U+001F,
    /// U+007F, U+008F and U+009F. The other C1 controls stay (e.g. the U+0085 and U+0093 of garbled Windows-1252 text).
    /// </summary>
    /// <param name="codePoint">A code point after NFKC.</param>
    /// <returns>Whether nmt_nfkc removes it.</returns>
    public static bool IsNmtRemovedControl(int codePoint) => codePoint is (>= 0x1 and <= 0x8) or 0xB or (>= 0xE and <= 0x1F)
        or 0x7F or 0x8F or 0x9F;

    /// <summary>Normalizes <paramref name="text"/> into the string the unigram model segments.</summary>
    /// <param name="text">Raw text.</param>
    /// <returns>The normalized text; empty when <paramref name="text"/> holds only whitespace.</returns>
    public string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (_spec.PrecompiledCharsMap is { } charsMap)
        {
            return NormalizeWithCharsMap(text, charsMap);
        }

        // nmt_nfkc leaves U+FF5E FULLWIDTH TILDE alone (Japanese uses it apart from "~"), so NFKC runs around it.
        string unified = !_nfkc ? text
            : _nmt && text.Contains(FullwidthTilde)
                ? string.Join(FullwidthTilde, text.Split(FullwidthTilde).Select(part => UnicodeText.Normalize(part, NormalizationForm.FormKC)))
                : UnicodeText.Normalize(text, NormalizationForm.FormKC);
        if (_caseFold)
        {
            unified = unified.ToLowerInvariant();
        }

        var builder = new StringBuilder(unified.Length + 2);
        bool previousSpace = _spec.RemoveExtraWhitespaces; // drops leading spaces
        foreach (Rune rune in unified.EnumerateRunes())
        {
            Rune current = rune;
            if (_nmt && IsNmtRemovedControl(rune.Value))
            {
                continue;
            }

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

    // sentencepiece's Normalizer::Normalize over UTF-8 bytes: leading spaces dropped, the dummy prefix, each prefix
    // replaced (spaces right after a space dropped), spaces escaped, trailing spaces dropped.
    private string NormalizeWithCharsMap(string text, PrecompiledCharsMap charsMap)
    {
        ReadOnlySpan<byte> input = Encoding.UTF8.GetBytes(text);
        ReadOnlySpan<byte> space = " "u8;
        ReadOnlySpan<byte> spaceSymbol = "\u2581"u8;
        if (_spec.RemoveExtraWhitespaces)
        {
            while (!input.IsEmpty)
            {
                int consumed = NormalizePrefix(input, charsMap, out ReadOnlySpan<byte> replacement);
                if (!replacement.SequenceEqual(space))
                {
                    break;
                }

                input = input[consumed..];
            }
        }

        if (input.IsEmpty)
        {
            return string.Empty;
        }

        var output = new List<byte>(input.Length * 3);
        void AddSpace(ReadOnlySpan<byte> value)
        {
            foreach (byte b in value)
            {
                output.Add(b);
            }
        }

        ReadOnlySpan<byte> escapedSpace = _spec.EscapeWhitespaces ? spaceSymbol : space;
        if (!_whitespaceAsSuffix && _spec.AddDummyPrefix)
        {
            AddSpace(escapedSpace);
        }

        bool previousSpace = _spec.RemoveExtraWhitespaces;
        while (!input.IsEmpty)
        {
            int consumed = NormalizePrefix(input, charsMap, out ReadOnlySpan<byte> piece);
            while (previousSpace && !piece.IsEmpty && piece[0] == (byte)' ')
            {
                piece = piece[1..];
            }

            if (!piece.IsEmpty)
            {
                foreach (byte b in piece)
                {
                    if (b == (byte)' ' && _spec.EscapeWhitespaces)
                    {
                        AddSpace(spaceSymbol);
                    }
                    else
                    {
                        output.Add(b);
                    }
                }

                previousSpace = piece[^1] == (byte)' ';
            }

            input = input[consumed..];
            if (!_spec.RemoveExtraWhitespaces)
            {
                previousSpace = false;
            }
        }

        if (_spec.RemoveExtraWhitespaces)
        {
            while (output.Count >= escapedSpace.Length
                && System.Runtime.InteropServices.CollectionsMarshal.AsSpan(output)[^escapedSpace.Length..].SequenceEqual(escapedSpace))
            {
                output.RemoveRange(output.Count - escapedSpace.Length, escapedSpace.Length);
            }
        }

        if (_whitespaceAsSuffix && _spec.AddDummyPrefix)
        {
            AddSpace(escapedSpace);
        }

        return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(output));
    }

    // sentencepiece's Normalizer::NormalizePrefix: the longest user-defined piece passes unchanged; else the longest
    // rule of the map; else one UTF-8 character unchanged (a malformed byte becomes U+FFFD).
    private int NormalizePrefix(ReadOnlySpan<byte> input, PrecompiledCharsMap charsMap, out ReadOnlySpan<byte> replacement)
    {
        if (_userDefined.TryGetValue(input[0], out byte[][]? candidates))
        {
            foreach (byte[] candidate in candidates)
            {
                if (input.StartsWith(candidate))
                {
                    replacement = candidate;
                    return candidate.Length;
                }
            }
        }

        int length = charsMap.LongestMatch(input, out replacement);
        if (length > 0)
        {
            return length;
        }

        if (Rune.DecodeFromUtf8(input, out _, out int runeLength) == System.Buffers.OperationStatus.Done)
        {
            replacement = input[..runeLength];
            return runeLength;
        }

        replacement = "\uFFFD"u8;
        return 1;
    }
}
