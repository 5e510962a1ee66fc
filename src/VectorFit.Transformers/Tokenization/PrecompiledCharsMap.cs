using System.Buffers.Binary;

namespace VectorFit.Transformers.Tokenization;

/// <summary>
/// A SentencePiece model's <c>precompiled_charsmap</c> (<c>NormalizerSpec</c> field 2): the normalization rules the
/// model was trained with (for <c>nmt_nfkc</c>: NFKC, sentencepiece's whitespace list, control characters removed),
/// compiled into a Darts double-array trie over UTF-8 keys whose values point into a block of NUL-terminated
/// replacement strings. Interpreted exactly as sentencepiece's <c>Normalizer::NormalizePrefix</c> does: the longest
/// key that prefixes the input is replaced; input no key prefixes passes through one UTF-8 character at a time.
/// </summary>
internal sealed class PrecompiledCharsMap
{
    private readonly uint[] _units;
    private readonly byte[] _normalized;

    private PrecompiledCharsMap(uint[] units, byte[] normalized)
    {
        _units = units;
        _normalized = normalized;
    }

    /// <summary>Decodes a <c>precompiled_charsmap</c> blob: a little-endian uint32 trie size, the trie, the strings.</summary>
    /// <param name="blob">The field's bytes.</param>
    /// <param name="source">Model file name used in error messages.</param>
    /// <returns>The map.</returns>
    /// <exception cref="InvalidDataException">The blob is truncated or its trie size does not fit.</exception>
    public static PrecompiledCharsMap Parse(ReadOnlySpan<byte> blob, string source)
    {
        if (blob.Length <= 4)
        {
            throw new InvalidDataException($"{source}: normalizer_spec.precompiled_charsmap has {blob.Length} bytes, too few to hold its trie; re-download the model.");
        }

        uint trieSize = BinaryPrimitives.ReadUInt32LittleEndian(blob);
        if (trieSize >= (uint)blob.Length - 4 || trieSize % 4 != 0)
        {
            throw new InvalidDataException(
                $"{source}: normalizer_spec.precompiled_charsmap declares a {trieSize}-byte trie in a {blob.Length}-byte blob; re-download the model.");
        }

        var units = new uint[trieSize / 4];
        for (int i = 0; i < units.Length; i++)
        {
            units[i] = BinaryPrimitives.ReadUInt32LittleEndian(blob[(4 + (4 * i))..]);
        }

        return new PrecompiledCharsMap(units, blob[(4 + (int)trieSize)..].ToArray());
    }

    /// <summary>The longest rule that prefixes <paramref name="input"/>.</summary>
    /// <param name="input">UTF-8 text.</param>
    /// <param name="replacement">The rule's replacement (UTF-8); empty when no rule matches.</param>
    /// <returns>The number of input bytes the rule replaces; 0 when no rule matches.</returns>
    public int LongestMatch(ReadOnlySpan<byte> input, out ReadOnlySpan<byte> replacement)
    {
        replacement = default;
        // Darts-clone DoubleArray::commonPrefixSearch, keeping the longest result.
        int longestLength = 0;
        int longestValue = 0;
        if (_units.Length == 0)
        {
            return 0;
        }

        uint nodePos = Offset(_units[0]);
        for (int i = 0; i < input.Length; i++)
        {
            nodePos ^= input[i];
            if (nodePos >= (uint)_units.Length)
            {
                break;
            }

            uint unit = _units[nodePos];
            if ((unit & 0x800000FFu) != input[i])
            {
                break;
            }

            nodePos ^= Offset(unit);
            if (((unit >> 8) & 1) != 0 && nodePos < (uint)_units.Length)
            {
                longestLength = i + 1;
                longestValue = (int)(_units[nodePos] & 0x7FFFFFFFu);
            }
        }

        if (longestLength == 0)
        {
            return 0;
        }

        if (longestValue >= _normalized.Length)
        {
            throw new InvalidDataException($"precompiled_charsmap points at byte {longestValue} of its {_normalized.Length}-byte string block; re-download the model.");
        }

        int end = Array.IndexOf(_normalized, (byte)0, longestValue);
        replacement = _normalized.AsSpan(longestValue, (end < 0 ? _normalized.Length : end) - longestValue);
        return longestLength;
    }

    private static uint Offset(uint unit) => (unit >> 10) << (int)((unit & (1u << 9)) >> 6);
}
