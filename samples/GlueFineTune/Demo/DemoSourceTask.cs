using GlueFineTune.Data;

namespace GlueFineTune.Demo;

/// <summary>
/// The source task the toy checkpoint is pre-trained on, a narrower variant of the demo task: sentiment, but
/// only for training sentences whose sentiment words all come from one half of the sentiment vocabulary. The
/// other half is held out, so the fine-tuning task (every sentence, both halves) asks for more than the
/// checkpoint knows. Sentiment words are found from the training split itself: words seen at least twice and
/// only in sentences of one label; each polarity's words are split alternately (in ordinal order).
/// </summary>
/// <param name="Sentences">Every training sentence (all are used for masked-language modelling).</param>
/// <param name="Labels">Per sentence its source label (the sentiment) or −100 when it uses a held-out word.</param>
/// <param name="SourceWords">The sentiment words of the source task.</param>
/// <param name="HeldOutWords">The sentiment words it never labels.</param>
internal sealed record DemoSourceTask(IReadOnlyList<string> Sentences, IReadOnlyList<int> Labels, IReadOnlyList<string> SourceWords, IReadOnlyList<string> HeldOutWords)
{
    /// <summary>Sentences with a source label.</summary>
    public int LabelledCount => Labels.Count(l => l >= 0);

    /// <summary>Derives the source task from the training split.</summary>
    /// <param name="train">The demo's training examples.</param>
    /// <returns>The source task.</returns>
    public static DemoSourceTask Build(IReadOnlyList<GlueExample> train)
    {
        ArgumentNullException.ThrowIfNull(train);
        var counts = new Dictionary<string, (int Negative, int Positive)>(StringComparer.Ordinal);
        foreach (GlueExample e in train)
        {
            foreach (string w in Words(e.First).Distinct(StringComparer.Ordinal))
            {
                var (n, p) = counts.GetValueOrDefault(w);
                counts[w] = e.Label == 1 ? (n, p + 1) : (n + 1, p);
            }
        }

        var positive = counts.Where(kv => kv.Value.Negative == 0 && kv.Value.Positive >= 2).Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
        var negative = counts.Where(kv => kv.Value.Positive == 0 && kv.Value.Negative >= 2).Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
        var source = positive.Where((_, i) => i % 2 == 0).Concat(negative.Where((_, i) => i % 2 == 0)).ToList();
        var heldOut = positive.Where((_, i) => i % 2 == 1).Concat(negative.Where((_, i) => i % 2 == 1)).ToList();
        var held = new HashSet<string>(heldOut, StringComparer.Ordinal);
        var labels = train.Select(e => Words(e.First).Any(held.Contains) ? -100 : e.Label).ToList();
        return new DemoSourceTask(train.Select(e => e.First).ToList(), labels, source, heldOut);
    }

    private static string[] Words(string sentence) => sentence.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
