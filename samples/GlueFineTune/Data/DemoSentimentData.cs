namespace GlueFineTune.Data;

/// <summary>
/// The built-in labelled dataset of <c>--demo</c>: short English movie-review sentences, label 1 (positive)
/// or 0 (negative), generated from word lists with a fixed seed. Each sentence carries its polarity in
/// sentiment words (adjectives or verbs from a positive or a negative lexicon) mixed with neutral words,
/// so a small model learns it well above chance (50%) within a few hundred steps. Train and dev share
/// the lexicon but no sentence; both are balanced.
/// </summary>
internal static class DemoSentimentData
{
    /// <summary>Seed of the built-in splits.</summary>
    public const ulong DefaultSeed = 20_240_917;

    /// <summary>Training examples in the built-in split.</summary>
    public const int DefaultTrainCount = 320;

    /// <summary>Dev examples in the built-in split.</summary>
    public const int DefaultDevCount = 100;

    private static readonly string[] PositiveAdjectives =
        ["good", "great", "wonderful", "delightful", "charming", "brilliant", "superb", "lovely", "excellent", "funny", "beautiful", "clever"];

    private static readonly string[] NegativeAdjectives =
        ["bad", "awful", "boring", "dull", "terrible", "weak", "clumsy", "bland", "tedious", "messy", "painful", "stale"];

    private static readonly string[] PositiveVerbs = ["loved", "enjoyed", "adored", "liked", "admired"];

    private static readonly string[] NegativeVerbs = ["hated", "disliked", "regretted", "loathed", "resented"];

    private static readonly string[] Nouns =
        ["movie", "film", "story", "plot", "acting", "script", "ending", "cast", "music", "dialogue", "camera", "pacing"];

    private static readonly string[] Intensifiers = ["very", "really", "quite", "truly", "rather", "so", "pretty"];

    private static readonly string[] Openers = ["honestly", "overall", "in the end", "for me", "all in all", "to be fair"];

    private static readonly Lazy<(IReadOnlyList<GlueExample> Train, IReadOnlyList<GlueExample> Dev)> BuiltIn =
        new(() => Generate(DefaultTrainCount, DefaultDevCount, DefaultSeed));

    /// <summary>The built-in training split (320 examples, balanced).</summary>
    public static IReadOnlyList<GlueExample> Train => BuiltIn.Value.Train;

    /// <summary>The built-in dev split (100 examples, balanced, disjoint from <see cref="Train"/>).</summary>
    public static IReadOnlyList<GlueExample> Dev => BuiltIn.Value.Dev;

    /// <summary>Every word and punctuation mark the generator can emit, sorted ordinally.</summary>
    public static IReadOnlyList<string> Words { get; } = BuildWords();

    /// <summary>
    /// A BERT-style vocabulary covering every demo sentence without unknown tokens: <c>[PAD]</c>=0,
    /// <c>[UNK]</c>=1, <c>[CLS]</c>=2, <c>[SEP]</c>=3, <c>[MASK]</c>=4, then <see cref="Words"/>. Write it one
    /// token per line as <c>vocab.txt</c> for a <see cref="VectorFit.Transformers.Tokenization.WordPieceTokenizer"/>.
    /// </summary>
    /// <returns>The vocabulary in id order.</returns>
    public static IReadOnlyList<string> BuildBertVocabulary() => ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", .. Words];

    /// <summary>Generates balanced, disjoint train and dev splits.</summary>
    /// <param name="trainCount">Training examples (even numbers give an exact balance).</param>
    /// <param name="devCount">Dev examples.</param>
    /// <param name="seed">Generator seed; the same seed gives the same splits on every platform.</param>
    /// <returns>The two splits.</returns>
    public static (IReadOnlyList<GlueExample> Train, IReadOnlyList<GlueExample> Dev) Generate(int trainCount, int devCount, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(trainCount);
        ArgumentOutOfRangeException.ThrowIfNegative(devCount);
        const int Capacity = 5000; // far below the number of distinct sentences the templates can produce
        if (trainCount + devCount > Capacity)
        {
            throw new ArgumentOutOfRangeException(
                nameof(trainCount), trainCount + devCount, $"the demo generator makes at most {Capacity} distinct sentences; ask for fewer.");
        }

        var random = new SplitMix64(seed);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var all = new List<GlueExample>(trainCount + devCount);
        while (all.Count < trainCount + devCount)
        {
            int label = all.Count % 2 == 0 ? 1 : 0;
            string sentence = Sentence(label == 1, ref random);
            if (seen.Add(sentence))
            {
                all.Add(GlueExample.Classification(sentence, null, label));
            }
        }

        return (all.GetRange(0, trainCount), all.GetRange(trainCount, devCount));
    }

    private static string Sentence(bool positive, ref SplitMix64 random)
    {
        string[] adjectives = positive ? PositiveAdjectives : NegativeAdjectives;
        string[] verbs = positive ? PositiveVerbs : NegativeVerbs;
        string adjective = random.Pick(adjectives);
        string noun = random.Pick(Nouns);
        string intensifier = random.Pick(Intensifiers);
        return random.Next(6) switch
        {
            0 => $"the {noun} was {intensifier} {adjective} .",
            1 => $"a {intensifier} {adjective} {noun} .",
            2 => $"i {random.Pick(verbs)} the {noun} .",
            3 => $"{random.Pick(Openers)} , the {noun} is {adjective} and {random.Pick(adjectives)} .",
            4 => $"what a {adjective} {noun} , i {random.Pick(verbs)} it .",
            _ => $"the {noun} felt {intensifier} {adjective} to me .",
        };
    }

    private static string[] BuildWords()
    {
        IEnumerable<string> phrases = PositiveAdjectives.Concat(NegativeAdjectives).Concat(PositiveVerbs).Concat(NegativeVerbs)
            .Concat(Nouns).Concat(Intensifiers).Concat(Openers)
            .Concat(["the", "was", "a", "i", "is", "and", "what", "it", "felt", "to", "me", ".", ","]);
        return [.. phrases.SelectMany(p => p.Split(' ')).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
    }

    /// <summary>SplitMix64: a tiny deterministic generator (System.Random's sequence is not a stable contract).</summary>
    private struct SplitMix64(ulong state)
    {
        private ulong _state = state;

        public int Next(int exclusiveMax)
        {
            _state += 0x9E3779B97F4A7C15UL;
            ulong z = _state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (int)(z % (ulong)exclusiveMax);
        }

        public string Pick(string[] items) => items[Next(items.Length)];
    }
}
