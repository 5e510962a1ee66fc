namespace VectorFit.Transformers.Tokenization;

/// <summary>
/// Cuts text at literal occurrences of special tokens (e.g. <c>[SEP]</c> typed in the text), as Hugging Face
/// tokenizers do before sub-word splitting, so a special token in the text maps to its own id.
/// </summary>
internal static class SpecialTokenSplitter
{
    /// <summary>Splits <paramref name="text"/> into plain segments and special-token segments, in order.</summary>
    /// <param name="text">Raw text.</param>
    /// <param name="specialTokens">Special token strings to keep whole (the longest match wins at a position).</param>
    /// <returns>Segments; plain segments are never empty.</returns>
    public static List<(string Text, bool IsSpecial)> Split(string text, IReadOnlyCollection<string> specialTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(specialTokens);
        var segments = new List<(string Text, bool IsSpecial)>();
        if (!specialTokens.Any(t => t.Length > 0 && text.Contains(t, StringComparison.Ordinal)))
        {
            if (text.Length > 0)
            {
                segments.Add((text, false));
            }

            return segments;
        }

        int plainStart = 0;
        int i = 0;
        while (i < text.Length)
        {
            string? match = null;
            foreach (string token in specialTokens)
            {
                if (token.Length > 0
                    && (match is null || token.Length > match.Length)
                    && text.AsSpan(i).StartsWith(token, StringComparison.Ordinal))
                {
                    match = token;
                }
            }

            if (match is null)
            {
                i++;
                continue;
            }

            if (i > plainStart)
            {
                segments.Add((text[plainStart..i], false));
            }

            segments.Add((match, true));
            i += match.Length;
            plainStart = i;
        }

        if (plainStart < text.Length)
        {
            segments.Add((text[plainStart..], false));
        }

        return segments;
    }
}
