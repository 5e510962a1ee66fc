using GlueFineTune.Cli;
using GlueFineTune.MultiTask;
using GlueFineTune.Training;
using VectorFit.Transformers.Models;

namespace GlueFineTune.Tests.MultiTask;

/// <summary>A tiny BERT checkpoint and two tiny labelled tasks on its vocabulary, for the multi-task and predict tests.</summary>
internal static class MultiTaskFixture
{
    /// <summary>Sentiment: good/great = pos, bad/awful = neg.</summary>
    public static readonly string[] Sentiment = ["the movie was good", "a bad film", "the film was great", "an awful movie", "good", "bad .", "a great film .", "the movie was awful"];

    /// <summary>Topic: movie vs film (another label view of the same words).</summary>
    public static readonly string[] Topic = ["the movie", "a film", "movie was good", "film was bad", "the movie .", "a great film", "movie", "film ."];

    /// <summary>Writes the tiny checkpoint (seeded) into <c>ROOT/NAME</c>.</summary>
    public static string Checkpoint(string root, string name = "model", int seed = 7, bool meanPooling = false)
    {
        string folder = Path.Combine(root, name);
        using (var source = TinyCheckpoint.Model(TinyCheckpoint.Bert(), numLabels: 2, seed: seed))
        {
            TinyCheckpoint.Write(folder, source);
        }

        if (meanPooling)
        {
            SentenceTransformersPooling.Write(folder, Pooling.Mean, 16);
        }

        return folder;
    }

    /// <summary>Writes the two tasks' train and dev files (JSONL) into ROOT/data.</summary>
    public static (string SentimentFile, string TopicFile) Data(string root)
    {
        string folder = Path.Combine(root, "data");
        Directory.CreateDirectory(folder);
        string sentiment = Path.Combine(folder, "sentiment.jsonl");
        string topic = Path.Combine(folder, "topic.jsonl");
        File.WriteAllLines(sentiment, Sentiment.Select(s => $"{{\"text\": \"{s}\", \"label\": \"{(s.Contains("good") || s.Contains("great") ? "pos" : "neg")}\"}}"));
        File.WriteAllLines(topic, Topic.Select(s => $"{{\"text\": \"{s}\", \"label\": \"{(s.Contains("movie") ? "movie" : "film")}\"}}"));
        return (sentiment, topic);
    }

    /// <summary>The multi-task command line over the two tasks (train = dev), tiny settings.</summary>
    public static string[] Args(string model, string output, string sentiment, string topic, params string[] extra) =>
    [
        "--train", $"sentiment={sentiment}", "--dev", $"sentiment={sentiment}",
        "--train", $"topic={topic}", "--dev", $"topic={topic}",
        "--model", model, "--output", output, "--batch-size", "5", "--epochs", "2", "--lr", "0.05", "--seed", "3", .. extra,
    ];

    /// <summary>Trains the two adapters with the multi-task trainer (a few steps) and returns their files.</summary>
    public static IReadOnlyDictionary<string, string> TrainAdapters(string root, string model, params string[] extra)
    {
        var (sentiment, topic) = Data(root);
        MultiTaskOptions options = MultiTaskOptions.Resolve(CliParser.Parse(Args(model, Path.Combine(root, "out"), sentiment, topic, extra)));
        using var trainer = new MultiTaskTrainer(options, TextWriter.Null);
        MultiTaskOutcome outcome = trainer.Run(TextWriter.Null, false, CancellationToken.None);
        outcome.Completed.Should().BeTrue();
        return outcome.Adapters;
    }
}
