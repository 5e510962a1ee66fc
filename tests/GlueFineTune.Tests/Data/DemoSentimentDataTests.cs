using GlueFineTune.Data;
using VectorFit.Transformers.Tokenization;

namespace GlueFineTune.Tests.Data;

public sealed class DemoSentimentDataTests
{
    private static readonly HashSet<string> Positive =
        ["good", "great", "wonderful", "delightful", "charming", "brilliant", "superb", "lovely", "excellent", "funny", "beautiful", "clever",
         "loved", "enjoyed", "adored", "liked", "admired"];

    private static readonly HashSet<string> Negative =
        ["bad", "awful", "boring", "dull", "terrible", "weak", "clumsy", "bland", "tedious", "messy", "painful", "stale",
         "hated", "disliked", "regretted", "loathed", "resented"];

    [Fact]
    public void Splits_have_the_documented_sizes_and_are_balanced()
    {
        DemoSentimentData.Train.Should().HaveCount(320);
        DemoSentimentData.Dev.Should().HaveCount(100);
        DemoSentimentData.Train.Count(e => e.Label == 1).Should().Be(160);
        DemoSentimentData.Dev.Count(e => e.Label == 1).Should().Be(50);
        DemoSentimentData.Train.Should().OnlyContain(e => e.Second == null && e.Score == e.Label);
    }

    [Fact]
    public void Train_and_dev_share_no_sentence()
    {
        var train = DemoSentimentData.Train.Select(e => e.First).ToHashSet();

        train.Should().HaveCount(320);
        DemoSentimentData.Dev.Should().OnlyContain(e => !train.Contains(e.First));
    }

    [Fact]
    public void The_same_seed_gives_the_same_sentences_and_another_seed_does_not()
    {
        var again = DemoSentimentData.Generate(320, 100, DemoSentimentData.DefaultSeed);
        var other = DemoSentimentData.Generate(320, 100, DemoSentimentData.DefaultSeed + 1);

        again.Train.Should().Equal(DemoSentimentData.Train);
        again.Dev.Should().Equal(DemoSentimentData.Dev);
        other.Train.Select(e => e.First).Should().NotEqual(DemoSentimentData.Train.Select(e => e.First));
    }

    [Fact]
    public void Labels_are_determined_by_the_sentiment_words()
    {
        foreach (GlueExample example in DemoSentimentData.Train.Concat(DemoSentimentData.Dev))
        {
            string[] words = example.First.Split(' ');
            bool positive = words.Any(Positive.Contains);
            bool negative = words.Any(Negative.Contains);
            (positive && !negative).Should().Be(example.Label == 1, example.First);
            (negative && !positive).Should().Be(example.Label == 0, example.First);
        }
    }

    [Fact]
    public void The_bert_vocabulary_covers_every_sentence_without_unknown_tokens()
    {
        IReadOnlyList<string> vocabulary = DemoSentimentData.BuildBertVocabulary();
        var tokenizer = new WordPieceTokenizer(vocabulary);

        vocabulary.Take(5).Should().Equal("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]");
        vocabulary.Should().OnlyHaveUniqueItems();
        foreach (GlueExample example in DemoSentimentData.Train.Concat(DemoSentimentData.Dev))
        {
            tokenizer.TokenizeToIds(example.First).Should().NotContain(tokenizer.SpecialTokens.Unk, example.First);
        }
    }

    [Fact]
    public void Sentences_are_short()
    {
        DemoSentimentData.Train.Concat(DemoSentimentData.Dev).Max(e => e.First.Split(' ').Length).Should().BeLessThanOrEqualTo(14);
    }
}
