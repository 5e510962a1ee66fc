using System.Globalization;
using System.Text;

namespace VectorFit.Transformers.Tokenization;

/// <summary>One piece of a unigram segmentation.</summary>
/// <param name="Id">The piece id (the unknown id for text no piece covers).</param>
/// <param name="Start">UTF-16 offset of the piece in the normalized text.</param>
/// <param name="Length">UTF-16 length of the piece in the normalized text.</param>
internal readonly record struct UnigramToken(int Id, int Start, int Length);

/// <summary>
/// SentencePiece's unigram segmentation: the Viterbi path through all ways of spelling the text with
/// normal and user-defined pieces that maximizes the summed piece scores. A character no piece starts
/// with gets the unknown piece at score <c>min_score − 10</c>; adjacent unknown characters are merged
/// into one unknown token, and with byte fallback an unknown token is spelt as its UTF-8 byte pieces.
/// </summary>
internal sealed class UnigramSegmenter
{
    /// <summary>SentencePiece's penalty below the lowest piece score for an unknown character.</summary>
    public const double UnknownPenalty = 10.0;

    // Every matchable piece maps to its id and every proper prefix of one to -1, so the search from a
    // position stops as soon as no piece can continue.
    private readonly Dictionary<string, int> _matchable = new(StringComparer.Ordinal);
    // sentencepiece's Model::EncodeOptimized arithmetic, which decides between (nearly) equal segmentations: a path
    // score is stored as float; a piece's candidate is the double sum of the piece's score (a double: the ternary
    // with the user-defined "- 0.1" makes it one) and the stored float, compared in double with the stored float at
    // the end position and then rounded to float; the unknown candidate is a float sum. The first candidate found
    // (earliest start) wins a tie.
    private readonly double[] _scores;
    private readonly int _maxPieceLength;
    private readonly int _unkId;
    private readonly float _unkScore;
    private readonly int[]? _byteIds;

    /// <summary>Creates a segmenter over a vocabulary.</summary>
    /// <param name="pieces">The vocabulary; index = id.</param>
    /// <param name="unkId">Id of the unknown piece.</param>
    /// <param name="byteFallback">Spell unknown text with <c>&lt;0xXX&gt;</c> byte pieces when all 256 exist.</param>
    public UnigramSegmenter(IReadOnlyList<SentencePieceEntry> pieces, int unkId, bool byteFallback)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        _unkId = unkId;
        _scores = new double[pieces.Count];
        float minScore = float.MaxValue;
        float maxScore = 1.17549435e-38f; // SentencePiece starts its maximum at FLT_MIN.
        var byteIds = new int[256];
        int bytesFound = 0;
        for (int id = 0; id < pieces.Count; id++)
        {
            SentencePieceEntry entry = pieces[id];
            if (entry.Type == SentencePieceType.Normal)
            {
                minScore = Math.Min(minScore, entry.Score);
                maxScore = Math.Max(maxScore, entry.Score);
            }

            if (entry.Type is SentencePieceType.Normal or SentencePieceType.UserDefined && entry.Piece.Length > 0)
            {
                AddMatchable(entry.Piece, id);
                _maxPieceLength = Math.Max(_maxPieceLength, entry.Piece.Length);
            }
            else if (entry.Type == SentencePieceType.Byte && TryParseBytePiece(entry.Piece, out byte value))
            {
                byteIds[value] = id;
                bytesFound++;
            }
        }

        for (int id = 0; id < pieces.Count; id++)
        {
            SentencePieceEntry entry = pieces[id];
            // A user-defined symbol must always win over the pieces it overlaps: sentencepiece scores it
            // (UTF-8 length × max score, in float) − 0.1, in double.
            _scores[id] = entry.Type == SentencePieceType.UserDefined
                ? (double)(Encoding.UTF8.GetByteCount(entry.Piece) * maxScore) - 0.1
                : entry.Score;
        }

        _unkScore = (minScore == float.MaxValue ? 0f : minScore) - (float)UnknownPenalty;
        _byteIds = byteFallback && bytesFound == 256 ? byteIds : null;
    }

    /// <summary>Segments normalized text.</summary>
    /// <param name="text">Text produced by <see cref="SentencePieceNormalizer"/>.</param>
    /// <returns>The best segmentation, left to right.</returns>
    public List<UnigramToken> Segment(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int n = text.Length;
        var best = new float[n + 1];
        var fromStart = new int[n + 1];
        var fromId = new int[n + 1];
        Array.Fill(best, float.NegativeInfinity);
        Array.Fill(fromStart, -1);
        best[0] = 0;
        for (int start = 0; start < n; start++)
        {
            if (SplitsSurrogatePair(text, start))
            {
                continue;
            }

            int charLength = char.IsSurrogatePair(text, start) ? 2 : 1;
            bool coveredByPiece = false;
            int longest = Math.Min(_maxPieceLength, n - start);
            for (int length = 1; length <= longest; length++)
            {
                int end = start + length;
                if (SplitsSurrogatePair(text, end))
                {
                    continue;
                }

                // A string per candidate (net8.0 has no span lookup); the search stops at the first non-prefix.
                if (!_matchable.TryGetValue(text.Substring(start, length), out int id))
                {
                    break;
                }

                if (id >= 0)
                {
                    double candidate = best[start] + _scores[id];
                    if (fromStart[end] < 0 || candidate > best[end])
                    {
                        best[end] = (float)candidate;
                        fromStart[end] = start;
                        fromId[end] = id;
                    }

                    coveredByPiece |= length == charLength;
                }
            }

            if (!coveredByPiece)
            {
                int end = start + charLength;
                float candidate = best[start] + _unkScore;
                if (fromStart[end] < 0 || candidate > best[end])
                {
                    best[end] = candidate;
                    fromStart[end] = start;
                    fromId[end] = _unkId;
                }
            }
        }

        var tokens = new List<UnigramToken>();
        for (int end = n; end > 0; end = fromStart[end])
        {
            int start = fromStart[end];
            int id = fromId[end];
            if (id == _unkId && tokens.Count > 0 && tokens[^1].Id == _unkId)
            {
                UnigramToken next = tokens[^1];
                tokens[^1] = new UnigramToken(_unkId, start, next.Start + next.Length - start);
            }
            else
            {
                tokens.Add(new UnigramToken(id, start, end - start));
            }
        }

        tokens.Reverse();
        return _byteIds is null ? tokens : SpellUnknownAsBytes(text, tokens, _byteIds);
    }

    private void AddMatchable(string piece, int id)
    {
        for (int length = 1; length < piece.Length; length++)
        {
            _matchable.TryAdd(piece[..length], -1);
        }

        // The first piece with a given text wins; a prefix-only entry is upgraded to a piece.
        if (!_matchable.TryGetValue(piece, out int existing) || existing < 0)
        {
            _matchable[piece] = id;
        }
    }

    private static bool SplitsSurrogatePair(string text, int position) =>
        position > 0 && position < text.Length
        && char.IsHighSurrogate(text[position - 1]) && char.IsLowSurrogate(text[position]);

    private List<UnigramToken> SpellUnknownAsBytes(string text, List<UnigramToken> tokens, int[] byteIds)
    {
        var result = new List<UnigramToken>(tokens.Count);
        foreach (UnigramToken token in tokens)
        {
            if (token.Id != _unkId)
            {
                result.Add(token);
                continue;
            }

            foreach (byte b in Encoding.UTF8.GetBytes(text.Substring(token.Start, token.Length)))
            {
                result.Add(new UnigramToken(byteIds[b], token.Start, token.Length));
            }
        }

        return result;
    }

    private static bool TryParseBytePiece(string piece, out byte value)
    {
        value = 0;
        return piece.Length == 6
            && piece.StartsWith("<0x", StringComparison.Ordinal)
            && piece[5] == '>'
            && byte.TryParse(piece.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }
}
