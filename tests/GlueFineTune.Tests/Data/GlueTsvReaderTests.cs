using GlueFineTune.Data;

namespace GlueFineTune.Tests.Data;

public sealed class GlueTsvReaderTests
{
    private const string MnliTrainHeader =
        "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label";

    private const string MnliDevHeader =
        "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label";

    private static GlueDataset Read(GlueTask task, string text, string source = "test.tsv") =>
        GlueTsvReader.Read(task, new StringReader(text), source);

    [Fact]
    public void Cola_has_no_header_and_takes_sentence_from_column_3_label_from_column_1()
    {
        var data = Read(GlueTask.Cola, "gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\ngj04\t0\t*\tThe more we study verbs, the crazier they get get.\n");

        data.Examples.Should().Equal(
            GlueExample.Classification("The sailors rode the breeze clear of the rocks.", null, 1, lineNumber: 1),
            GlueExample.Classification("The more we study verbs, the crazier they get get.", null, 0, lineNumber: 2));
    }

    [Fact]
    public void Sst2_reads_sentence_and_label_after_its_header()
    {
        var data = Read(GlueTask.Sst2, "sentence\tlabel\nit 's a charming and often affecting journey . \t1\nunflinchingly bleak \t0\n");

        data.Examples.Should().Equal(
            GlueExample.Classification("it 's a charming and often affecting journey . ", null, 1, 2),
            GlueExample.Classification("unflinchingly bleak ", null, 0, 3));
    }

    [Fact]
    public void Mrpc_reads_both_strings_and_the_quality_label_and_tolerates_a_bom()
    {
        var data = Read(GlueTask.Mrpc,
            "\uFEFFQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t702876\t702977\tAmrozi accused his brother .\tReferring to him as only \" the witness \" .\n");

        data.Examples.Should().ContainSingle().Which.Should().Be(
            GlueExample.Classification("Amrozi accused his brother .", "Referring to him as only \" the witness \" .", 1, 2));
    }

    [Fact]
    public void Qqp_reads_questions_and_is_duplicate()
    {
        var data = Read(GlueTask.Qqp,
            "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n133273\t213221\t213222\tHow is \"life\" here?\tWhat is life like here?\t1\n");

        data.Examples.Should().ContainSingle().Which.Should().Be(
            GlueExample.Classification("How is \"life\" here?", "What is life like here?", 1, 2));
    }

    [Fact]
    public void Qnli_and_rte_map_entailment_to_0_and_not_entailment_to_1()
    {
        var qnli = Read(GlueTask.Qnli, "index\tquestion\tsentence\tlabel\n0\tWhen did it begin?\tIt began in 2001.\tentailment\n1\tWho?\tNobody knows.\tnot_entailment\n");
        var rte = Read(GlueTask.Rte, "index\tsentence1\tsentence2\tlabel\n0\tNo weapons were found.\tWeapons were found.\tnot_entailment\n");

        qnli.Examples.Select(e => (e.First, e.Second, e.Label)).Should().Equal(
            ("When did it begin?", "It began in 2001.", 0),
            ("Who?", "Nobody knows.", 1));
        rte.Examples.Should().ContainSingle().Which.Label.Should().Be(1);
    }

    [Fact]
    public void Mnli_takes_sentences_from_columns_8_and_9_and_gold_label_from_the_last_column()
    {
        // The dev file has five annotator labels before gold_label; the train file has one.
        string train = MnliTrainHeader + "\n0\t31193\t31193n\tgovernment\t( ( x ) )\t( y )\t(ROOT x)\t(ROOT y)\tThe \"premise\" here.\tThe hypothesis.\tneutral\tneutral\n";
        string dev = MnliDevHeader + "\n0\t1\t1e\tfiction\tp\tq\tr\ts\tP.\tH.\tentailment\tentailment\tneutral\tentailment\tentailment\tcontradiction\n";

        Read(GlueTask.Mnli, train).Examples.Should().ContainSingle().Which.Should().Be(
            GlueExample.Classification("The \"premise\" here.", "The hypothesis.", 1, 2));
        Read(GlueTask.Mnli, dev).Examples.Should().ContainSingle().Which.Label.Should().Be(2);
        GlueTask.Mnli.LabelNames.Should().Equal("entailment", "neutral", "contradiction");
    }

    [Fact]
    public void Stsb_reads_the_score_as_a_regression_target()
    {
        var data = Read(GlueTask.Stsb,
            "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA plane is taking off.\tAn air plane is taking off.\t5.000\n1\tmain-news\tx\t2012\t2\tnone\tnone\tA.\tB.\t3.8\n");

        data.Examples.Should().Equal(
            GlueExample.Regression("A plane is taking off.", "An air plane is taking off.", 5f, 2),
            GlueExample.Regression("A.", "B.", 3.8f, 3));
        GlueTask.Stsb.NumLabels.Should().Be(1);
    }

    [Fact]
    public void Wrong_column_count_names_file_line_and_counts()
    {
        using var dir = new TempDirectory();
        string path = dir.Write("CoLA/train.tsv", "gj04\t1\t\tFine sentence.\ngj04\t1\tBroken row without the original label.\n");

        var act = () => GlueTsvReader.Read(GlueTask.Cola, path);

        act.Should().Throw<GlueFormatException>()
            .WithMessage($"{path}, line 2: expected 4 tab-separated columns for CoLA but found 3*")
            .Which.LineNumber.Should().Be(2);
    }

    [Fact]
    public void A_stray_tab_inside_a_sentence_is_too_many_columns()
    {
        var act = () => Read(GlueTask.Sst2, "sentence\tlabel\nfine\t1\nhalf a\tsentence\t0\n", "SST-2/train.tsv");

        act.Should().Throw<GlueFormatException>()
            .WithMessage("SST-2/train.tsv, line 3: expected 2 tab-separated columns for SST-2 but found 3*");
    }

    [Fact]
    public void Unknown_label_names_file_line_value_and_valid_labels()
    {
        using var dir = new TempDirectory();
        string path = dir.Write("RTE/dev.tsv", "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tentailment\n1\tC.\tD.\tcontradiction\n");

        var act = () => GlueTsvReader.Read(GlueTask.Rte, path);

        act.Should().Throw<GlueFormatException>()
            .WithMessage($"{path}, line 3: unknown label \"contradiction\" for RTE; expected one of \"entailment\", \"not_entailment\".");
    }

    [Fact]
    public void Unparsable_and_out_of_range_scores_are_reported_with_their_line()
    {
        const string Header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n";

        var notANumber = () => Read(GlueTask.Stsb, Header + "0\tg\tf\ty\to\ts\ts\tA.\tB.\tfive\n", "STS-B/train.tsv");
        var outOfRange = () => Read(GlueTask.Stsb, Header + "0\tg\tf\ty\to\ts\ts\tA.\tB.\t1.0\n1\tg\tf\ty\to\ts\ts\tA.\tB.\t7.5\n", "STS-B/dev.tsv");

        notANumber.Should().Throw<GlueFormatException>().WithMessage("STS-B/train.tsv, line 2: score \"five\" is not a number*");
        outOfRange.Should().Throw<GlueFormatException>().WithMessage("STS-B/dev.tsv, line 3: score 7.5 is outside [0, 5]*");
    }

    [Fact]
    public void Quotes_are_ordinary_characters_and_do_not_join_rows()
    {
        // An unbalanced quote would swallow the next row in a CSV-style reader.
        var data = Read(GlueTask.Qqp,
            "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n1\t1\t2\tWhat does \"hello mean?\tIs \"x\" good?\t0\n2\t3\t4\tA?\tB?\t1\n");

        data.Examples.Select(e => e.First).Should().Equal("What does \"hello mean?", "A?");
    }

    [Fact]
    public void Skipping_malformed_rows_reports_each_of_them()
    {
        var data = GlueTsvReader.Read(GlueTask.Sst2,
            new StringReader("sentence\tlabel\ngood\t1\nno label column\nbad\t0\nweird\t2\n"), "SST-2/train.tsv", skipMalformedRows: true);

        data.Examples.Select(e => e.First).Should().Equal("good", "bad");
        data.SkippedRows.Select(e => e.LineNumber).Should().Equal(3, 5);
        data.SkippedRows[1].Message.Should().StartWith("SST-2/train.tsv, line 5: unknown label \"2\"");
    }

    [Fact]
    public void Header_of_another_task_is_rejected_at_line_1()
    {
        var act = () => Read(GlueTask.Qnli, "sentence\tlabel\nfine\t1\n", "QNLI/dev.tsv");

        act.Should().Throw<GlueFormatException>().WithMessage("QNLI/dev.tsv, line 1: header has 2 columns but QNLI files have at least 4*");
    }

    [Fact]
    public void Header_with_the_right_width_but_wrong_names_is_rejected()
    {
        var act = () => Read(GlueTask.Rte, "index\tquestion\tsentence\tlabel\n0\tA\tB\tentailment\n", "RTE/train.tsv");

        act.Should().Throw<GlueFormatException>().WithMessage("RTE/train.tsv, line 1: header column 1 is \"question\" but RTE files have \"sentence1\" there*");
    }

    [Fact]
    public void A_file_with_only_a_header_is_rejected()
    {
        var act = () => Read(GlueTask.Sst2, "sentence\tlabel\n", "SST-2/dev.tsv");

        act.Should().Throw<InvalidDataException>().WithMessage("SST-2/dev.tsv holds no SST-2 examples*");
    }

    [Fact]
    public void Missing_file_names_the_path_and_the_expected_layout()
    {
        using var dir = new TempDirectory();

        var act = () => GlueTsvReader.ReadSplit(GlueTask.Mnli, dir.Path, GlueSplit.Dev);

        act.Should().Throw<FileNotFoundException>()
            .WithMessage($"*{Path.Combine(dir.Path, "MNLI", "dev_matched.tsv")}*MNLI/, SST-2/*");
    }

    [Fact]
    public void Reads_a_split_from_the_glue_folder_layout()
    {
        using var dir = new TempDirectory();
        dir.Write("SST-2/train.tsv", "sentence\tlabel\na fine film\t1\n");

        GlueDataset data = GlueTsvReader.ReadSplit(GlueTask.Sst2, dir.Path, GlueSplit.Train);

        data.Examples.Should().ContainSingle().Which.Label.Should().Be(1);
        data.Source.Should().Be(Path.Combine(dir.Path, "SST-2", "train.tsv"));
    }
}
