// django-celery-beat's periodic task form: show the readable crontab under the crontab field.
(function () {
  "use strict";
  var $ = django.jQuery;
  var script = document.getElementById("periodic-task-overrides");
  var readableCrontabs = JSON.parse($("#readable-crontabs").text());
  var originalCrontabHelp = script.dataset.crontabHelp || "";

  function updateCrontabHelp(additional) {
    var help = $(".field-crontab .help");
    help.text(originalCrontabHelp);
    help.append(document.createElement("br"));
    help.append(document.createTextNode("Translation: " + (additional || "")));
  }

  $(function () {
    $(".field-crontab_translation").hide();
    $(".field-crontab").change(function () {
      updateCrontabHelp(readableCrontabs[$("#id_crontab").val()]);
    });
  });
})();
